//! The client-credentials token request, read from a form body and an optional HTTP Basic
//! header, with Microsoft's leniency: unknown parameters (MSAL's `client_info`, `claims`,
//! telemetry) are ignored; a repeated known parameter is refused.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use percent_encoding::percent_decode;

use crate::error::{AadError, excerpt};
use crate::secrets::ClientSecret;

/// Which token endpoint a request came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenEndpoint {
    /// `/{tenant}/oauth2/token`, `resource=`, string-typed numbers in the response.
    V1,
    /// `/{tenant}/oauth2/v2.0/token`, `scope=…/.default`.
    V2,
}

/// The parameters of a token request that the server reads. Empty values count as absent.
#[derive(Default)]
pub struct TokenParameters {
    pub grant_type: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<ClientSecret>,
    pub client_assertion_type: Option<String>,
    pub client_assertion: Option<String>,
    pub scope: Option<String>,
    pub resource: Option<String>,
}

impl std::fmt::Debug for TokenParameters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenParameters")
            .field("grant_type", &self.grant_type)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("client_assertion", &self.client_assertion.as_ref().map(|_| "<redacted>"))
            .field("scope", &self.scope)
            .field("resource", &self.resource)
            .finish()
    }
}

impl TokenParameters {
    /// Reads an `application/x-www-form-urlencoded` body.
    pub fn from_form_body(body: &[u8]) -> Result<Self, AadError> {
        let mut parameters = Self::default();
        for (name, value) in decode_form(body)? {
            let slot = match name.as_str() {
                "grant_type" => &mut parameters.grant_type,
                "client_id" => &mut parameters.client_id,
                "client_assertion_type" => &mut parameters.client_assertion_type,
                "client_assertion" => &mut parameters.client_assertion,
                "scope" => &mut parameters.scope,
                "resource" => &mut parameters.resource,
                "client_secret" => {
                    if parameters.client_secret.is_some() {
                        return Err(repeated(&name));
                    }
                    if !value.is_empty() {
                        parameters.client_secret = Some(ClientSecret::from_presented(value));
                    }
                    continue;
                }
                _ => continue,
            };
            if slot.is_some() {
                return Err(repeated(&name));
            }
            if !value.is_empty() {
                *slot = Some(value);
            }
        }
        Ok(parameters)
    }
}

fn repeated(name: &str) -> AadError {
    AadError::MalformedRequest { detail: format!("The parameter '{}' appears more than once.", excerpt(name)) }
}

/// Splits and percent-decodes a form body; `+` is a space. Invalid UTF-8 after decoding is a
/// malformed request, not a lossy replacement.
fn decode_form(body: &[u8]) -> Result<Vec<(String, String)>, AadError> {
    body.split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = match pair.iter().position(|&b| b == b'=') {
                Some(at) => (&pair[..at], &pair[at + 1..]),
                None => (pair, &[][..]),
            };
            Ok((decode_component(name)?, decode_component(value)?))
        })
        .collect()
}

/// Percent-decodes one name or value of a form body, `+` being a space.
fn decode_component(part: &[u8]) -> Result<String, AadError> {
    let spaced: Vec<u8> = part.iter().map(|&b| if b == b'+' { b' ' } else { b }).collect();
    percent_decode(&spaced)
        .decode_utf8()
        .map(|text| text.into_owned())
        .map_err(|_| AadError::MalformedRequest { detail: "The request is not valid UTF-8 after URL decoding.".into() })
}

/// Client id and secret from an `Authorization: Basic …` header: base64 of
/// `urlencode(id):urlencode(secret)` (RFC 6749 §2.3.1), each half URL-decoded.
pub struct BasicCredentials {
    pub client_id: String,
    pub client_secret: ClientSecret,
}

impl std::fmt::Debug for BasicCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicCredentials").field("client_id", &self.client_id).finish_non_exhaustive()
    }
}

impl BasicCredentials {
    /// Reads the header value; `None` when it is not a Basic header at all.
    pub fn from_authorization_header(value: &str) -> Option<Result<Self, AadError>> {
        let (scheme, encoded) = value.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let malformed = || AadError::MalformedRequest {
            detail: "The Authorization header is not valid HTTP Basic credentials.".into(),
        };
        let parsed = (|| {
            let decoded = STANDARD.decode(encoded.trim()).map_err(|_| malformed())?;
            let text = String::from_utf8(decoded).map_err(|_| malformed())?;
            let (id, secret) = text.split_once(':').ok_or_else(malformed)?;
            Ok(Self {
                client_id: decode_component(id.as_bytes())?,
                client_secret: ClientSecret::from_presented(decode_component(secret.as_bytes())?),
            })
        })();
        Some(parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_parameters_are_read_and_unknown_ones_ignored() {
        let body = b"grant_type=client_credentials&client_id=abc&client_info=1&claims=%7B%7D&scope=https%3A%2F%2Fapi.security.microsoft.com%2F.default+openid";
        let parameters = TokenParameters::from_form_body(body).unwrap();
        assert_eq!(parameters.grant_type.as_deref(), Some("client_credentials"));
        assert_eq!(parameters.scope.as_deref(), Some("https://api.security.microsoft.com/.default openid"));
        assert!(parameters.client_secret.is_none());
    }

    #[test]
    fn a_repeated_parameter_is_refused() {
        let result = TokenParameters::from_form_body(b"client_id=a&client_id=b");
        assert!(matches!(result, Err(AadError::MalformedRequest { .. })));
    }

    #[test]
    fn invalid_utf8_after_decoding_is_refused() {
        let result = TokenParameters::from_form_body(b"client_id=%FF%FE");
        assert!(matches!(result, Err(AadError::MalformedRequest { .. })));
    }

    #[test]
    fn basic_credentials_are_url_decoded_half_by_half() {
        // "id%3A1:s%2Bx%3Ay" is id ":" secret after form-encoding each half.
        let header = format!("Basic {}", STANDARD.encode("id%3A1:s%2Bx%3Ay"));
        let credentials = BasicCredentials::from_authorization_header(&header).unwrap().unwrap();
        assert_eq!(credentials.client_id, "id:1");
        assert_eq!(credentials.client_secret.expose(), "s+x:y");
        assert!(BasicCredentials::from_authorization_header("Bearer abc").is_none());
        assert!(matches!(
            BasicCredentials::from_authorization_header("Basic !!!"),
            Some(Err(AadError::MalformedRequest { .. }))
        ));
    }
}
