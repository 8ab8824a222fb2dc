//! One log line per request at `info` (target `threatgate::request`): method, path, status,
//! duration and, for an API call with a verified token, the tenant. Never the query string,
//! headers or body, where secrets and tokens travel.

use std::time::Instant;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use threatgate_domain::TenantId;

/// The tenant whose token a request carried, attached to the response by the API's access
/// recording for this line.
#[derive(Debug, Clone, Copy)]
pub struct RequestTenant(pub TenantId);

/// Middleware: logs each request once it is answered.
pub async fn log_requests(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    // The path only: a query string may carry a code or a filter not meant for logs.
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    let status = response.status().as_u16();
    match response.extensions().get::<RequestTenant>() {
        Some(RequestTenant(tenant)) => tracing::info!(
            target: "threatgate::request",
            %method, path = %truncated(&path), status, ms = format_args!("{elapsed_ms:.1}"), %tenant,
            "request"
        ),
        None => tracing::info!(
            target: "threatgate::request",
            %method, path = %truncated(&path), status, ms = format_args!("{elapsed_ms:.1}"),
            "request"
        ),
    }
    response
}

/// A path cut to 256 characters (at a character boundary), so a huge URL makes no huge line.
fn truncated(path: &str) -> &str {
    match path.char_indices().nth(256) {
        Some((end, _)) => &path[..end],
        None => path,
    }
}
