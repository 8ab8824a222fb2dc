//! Recording every API call in the partner access log, in one place: a middleware around the
//! API routes. The `Authorized` extractor tells it who called (once the token verified, so
//! the tenant is known; calls with a bad token are not a tenant's business and are only
//! traced); the handler, or the failure, tells it what came of the call.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use threatgate_domain::datetime::to_ticks;
use threatgate_domain::{AppId, IncidentId, TenantId};
use threatgate_store::{AccessEntry, AccessOperation};

use crate::state::AppState;

/// The longest `detail` kept (a `$filter` can be long).
const MAX_DETAIL: usize = 1024;

/// The verified caller of a request, filled in by the `Authorized` extractor.
#[derive(Debug, Clone, Default)]
pub struct CallerSlot(Arc<Mutex<Option<Caller>>>);

#[derive(Debug, Clone)]
pub struct Caller {
    pub tenant: TenantId,
    pub app_id: AppId,
    pub app_name: String,
}

impl CallerSlot {
    pub fn fill(&self, caller: Caller) {
        *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(caller);
    }

    fn take(&self) -> Option<Caller> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take()
    }
}

/// What came of a call, attached to its response by the handler or by `ApiFailure`.
#[derive(Debug, Clone, Default)]
pub struct AccessNote {
    pub incident_ids: Vec<IncidentId>,
    pub result: String,
    /// Replaces the default detail (the query string).
    pub detail: Option<String>,
    /// The tracking id the client saw (an error's `target`).
    pub request_id: Option<String>,
}

/// The middleware: runs the call, then queues its access-log entry.
pub async fn record_access(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let slot = CallerSlot::default();
    request.extensions_mut().insert(slot.clone());
    let operation = request.extensions().get::<MatchedPath>().and_then(|path| operation_of(request.method(), path));
    let incident_id = match operation {
        Some(AccessOperation::GetIncident | AccessOperation::UpdateIncident) => {
            request.uri().path().rsplit('/').next().and_then(|id| id.parse::<i64>().ok()).map(IncidentId::new)
        }
        Some(AccessOperation::CommentIncident) => {
            request.uri().path().rsplit('/').nth(1).and_then(|id| id.parse::<i64>().ok()).map(IncidentId::new)
        }
        _ => None,
    };
    let query = request.uri().query().map(decoded_query).unwrap_or_default();
    let client_address =
        request.extensions().get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(peer)| peer.ip().to_string());

    let mut response = next.run(request).await;

    let caller = slot.take();
    if let Some(caller) = &caller {
        response.extensions_mut().insert(crate::request_log::RequestTenant(caller.tenant));
    }
    let (Some(operation), Some(caller)) = (operation, caller) else { return response };
    let note = response.extensions().get::<AccessNote>().cloned().unwrap_or_default();
    let entry = AccessEntry {
        at: to_ticks(state.clock.now()),
        tenant_id: caller.tenant,
        app_id: caller.app_id,
        app_name: caller.app_name,
        operation,
        incident_id,
        incident_ids: note.incident_ids,
        status: response.status().as_u16(),
        result: note.result,
        detail: truncate(note.detail.unwrap_or(query)),
        request_id: note.request_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        client_address,
    };
    state.access_log.record(entry).await;
    response
}

fn operation_of(method: &Method, path: &MatchedPath) -> Option<AccessOperation> {
    let path = path.as_str();
    if path.ends_with("/incidents") && method == Method::GET {
        Some(AccessOperation::ListIncidents)
    } else if path.ends_with("/incidents/{id}") {
        match *method {
            Method::GET => Some(AccessOperation::GetIncident),
            Method::PATCH => Some(AccessOperation::UpdateIncident),
            _ => None,
        }
    } else if path.ends_with("/ingest/alerts") && method == Method::POST {
        Some(AccessOperation::IngestAlerts)
    } else if path.ends_with("/ingest/events/{table}") && method == Method::POST {
        Some(AccessOperation::IngestEvents)
    } else if (path.ends_with("/advancedhunting/run") || path.ends_with("runHuntingQuery")) && method == Method::POST {
        Some(AccessOperation::RunAdvancedHunting)
    } else if path.ends_with("/incidents/{id}/comments") && method == Method::POST {
        Some(AccessOperation::CommentIncident)
    } else if path.ends_with("/alerts_v2") && method == Method::GET {
        Some(AccessOperation::ListAlerts)
    } else if path.ends_with("/alerts_v2/{id}") {
        match *method {
            Method::GET => Some(AccessOperation::GetAlert),
            Method::PATCH => Some(AccessOperation::UpdateAlert),
            _ => None,
        }
    } else if path.ends_with("/alerts_v2/{id}/comments") && method == Method::POST {
        Some(AccessOperation::CommentAlert)
    } else {
        // Graph's directory calls are changes: the audit trail records them.
        None
    }
}

/// `$filter=status eq 'Active'&$top=10`: readable, as the caller meant it.
fn decoded_query(query: &str) -> String {
    form_urlencoded::parse(query.as_bytes())
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn truncate(mut text: String) -> String {
    if text.len() > MAX_DETAIL {
        let mut end = MAX_DETAIL;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_details_are_cut_on_a_character_boundary() {
        let cut = truncate("é".repeat(MAX_DETAIL));
        assert!(cut.len() <= MAX_DETAIL + '…'.len_utf8());
        assert!(cut.ends_with('…'));
        assert_eq!(truncate("short".into()), "short");
    }

    #[test]
    fn the_query_is_kept_decoded() {
        assert_eq!(decoded_query("%24filter=status+eq+%27Active%27&%24top=5"), "$filter=status eq 'Active'&$top=5");
    }
}
