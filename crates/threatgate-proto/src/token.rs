//! Token endpoint responses, error bodies, and the access token's header and claims.

use serde::{Deserialize, Serialize};

/// `POST /{tenant}/oauth2/v2.0/token` success: numbers are JSON integers
/// (`identity-protocol.md` 3.1; Rust `azure_identity` fails on strings).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponseV2 {
    pub token_type: String,
    pub expires_in: i64,
    pub ext_expires_in: i64,
    pub access_token: String,
}

/// `POST /{tenant}/oauth2/token` success: numbers are JSON strings (`identity-protocol.md` 3.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponseV1 {
    pub token_type: String,
    pub expires_in: String,
    pub ext_expires_in: String,
    pub expires_on: String,
    pub not_before: String,
    pub resource: String,
    pub access_token: String,
}

/// The JSON error body of the identity endpoints (`identity-protocol.md` 7.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AadErrorBody {
    pub error: String,
    /// `AADSTS<code>: <message>\r\nTrace ID: …\r\nCorrelation ID: …\r\nTimestamp: …`
    pub error_description: String,
    pub error_codes: Vec<u32>,
    /// `YYYY-MM-DD HH:MM:SSZ`
    pub timestamp: String,
    pub trace_id: String,
    pub correlation_id: String,
    pub error_uri: String,
}

/// The JOSE header of an access token: v1 form, `x5t` equal to `kid`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwtHeader {
    pub typ: String,
    pub alg: String,
    pub x5t: String,
    pub kid: String,
}

/// The claims of an app-only v1 access token (`identity-protocol.md` 4.3, in that order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    pub aud: String,
    pub iss: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub aio: String,
    pub appid: String,
    /// `"1"` for a client secret, `"2"` for a certificate.
    pub appidacr: String,
    pub idp: String,
    pub idtyp: String,
    /// The client's service principal in tenant `tid`.
    pub oid: String,
    pub rh: String,
    /// Absent when the service principal holds no role for the resource.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    pub sub: String,
    pub tid: String,
    pub uti: String,
    pub ver: String,
}
