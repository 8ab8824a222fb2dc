//! The incident list's OData query (`$filter`, `$top`, `$skip`, `$orderby`, …): the input as a
//! decoded query string, and as a `$filter` in both vocabularies (the API's and Graph's).
#![no_main]

use libfuzzer_sys::fuzz_target;
use threatgate_domain::odata::{IncidentQuery, Vocabulary, parse_filter_in};

fuzz_target!(|text: &str| {
    let parameters = text.split('&').map(|pair| pair.split_once('=').unwrap_or((pair, "")));
    let _ = IncidentQuery::parse(parameters);
    let _ = parse_filter_in(text, Vocabulary::ThreatProtection);
    let _ = parse_filter_in(text, Vocabulary::Graph);
});
