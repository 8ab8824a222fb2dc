//! The token endpoint's request: the form body and the `Authorization: Basic` header. Input:
//! the header value, a newline, then the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use threatgate_identity::{BasicCredentials, TokenParameters};

fuzz_target!(|data: &[u8]| {
    let (header, body) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (&[][..], data),
    };
    let _ = TokenParameters::from_form_body(body);
    if let Ok(header) = std::str::from_utf8(header) {
        let _ = BasicCredentials::from_authorization_header(header);
    }
});
