//! Wire types shared by the Threatgate server, its client library and the tests.
//!
//! Field order in each struct is the key order on the wire, as `../shared/spec/` records it
//! for Microsoft's service; serde keeps it. Change an order only with the spec.

pub mod demo;
pub mod discovery;
pub mod incident;
pub mod token;

pub use demo::{DemoApp, DemoCustomer, DemoManifest, DemoPartner};
pub use discovery::{InstanceDiscovery, InstanceMetadata, Jwk, JwkSet, OpenIdConfigurationV1, OpenIdConfigurationV2};
pub use incident::{Alert, ApiError, ApiErrorBody, Comment, Device, Entity, EventsReport, Incident};
pub use token::{AadErrorBody, AccessTokenClaims, JwtHeader, TokenResponseV1, TokenResponseV2};
