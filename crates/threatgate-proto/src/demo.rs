//! `demo.json`: what `threatgate demo` writes once the demo is ready. Scripts rely on it, so
//! its shape is a documented contract (`docs/clients.md`, "demo.json").

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemoManifest {
    /// Base URL of the identity endpoints, e.g. `https://127.0.0.1:8443`.
    pub authority: String,
    /// Base URL of the Threat Protection API.
    pub api_base: String,
    /// Absolute path of the local CA certificate (PEM) that signed the server certificate.
    pub ca_certificate: String,
    pub resource: String,
    pub partner: DemoPartner,
    pub app: DemoApp,
    pub customers: Vec<DemoCustomer>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemoPartner {
    pub tenant_id: String,
    pub domain: String,
    pub admin_upn: String,
    pub admin_password: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemoApp {
    pub app_id: String,
    pub display_name: String,
    pub client_secret: String,
    pub redirect_uri: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemoCustomer {
    pub tenant_id: String,
    pub domain: String,
    pub display_name: String,
    pub consented: bool,
    pub admin_upn: String,
    pub admin_password: String,
}
