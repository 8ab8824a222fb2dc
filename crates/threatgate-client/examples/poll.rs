//! A partner's minute poll: the incidents updated in the last `SINCE_MINUTES` (default 60) in
//! every tenant of `TENANTS` (comma-separated), 16 tenants at a time, each tenant's failure
//! reported without stopping the others.
//!
//!     CLIENT_ID=… CLIENT_SECRET=… TENANTS=contoso.onmicrosoft.com,woodgrove.onmicrosoft.com \
//!     AUTHORITY=https://127.0.0.1:8443 API_BASE=https://127.0.0.1:8443 CA_CERT=threatgate-data/tls/ca.pem \
//!     cargo run -p threatgate-client --example poll
//!
//! Without AUTHORITY and API_BASE it talks to Microsoft's service.
#![allow(clippy::print_stdout, clippy::print_stderr, reason = "an example prints")]

use futures_util::StreamExt;
use threatgate_client::{Client, ClientSecret, IncidentFilter, fan_out};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let variable = |name: &str| std::env::var(name).map_err(|_| format!("set {name}"));
    let mut builder =
        Client::builder(variable("CLIENT_ID")?).client_secret(ClientSecret::new(variable("CLIENT_SECRET")?));
    if let Ok(authority) = variable("AUTHORITY") {
        builder = builder.authority(authority);
    }
    if let Ok(api_base) = variable("API_BASE") {
        builder = builder.api_base(api_base);
    }
    if let Ok(ca) = variable("CA_CERT") {
        builder = builder.ca_certificate(ca);
    }
    let client = builder.build()?;
    let minutes: i64 = variable("SINCE_MINUTES").ok().and_then(|m| m.parse().ok()).unwrap_or(60);
    let filter =
        IncidentFilter::new().updated_since(time::OffsetDateTime::now_utc() - time::Duration::minutes(minutes));
    let tenants: Vec<String> = variable("TENANTS")?.split(',').map(|t| t.trim().to_owned()).collect();

    let mut results = fan_out(tenants, 16, |tenant| {
        let (client, filter) = (client.clone(), filter.clone());
        async move { client.list_incidents(&tenant, &filter).await }
    });
    while let Some((tenant, result)) = results.next().await {
        match result {
            Ok(incidents) => {
                for incident in incidents {
                    println!("{tenant}  {}  {}  {}", incident.incident_id, incident.severity, incident.incident_name);
                }
            }
            Err(error) => eprintln!("{tenant}: {error}"),
        }
    }
    println!("{} token requests", client.tokens().token_requests());
    Ok(())
}
