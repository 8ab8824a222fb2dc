//! What several API handlers do around their work: count the call against the caller's
//! quota, and note for the access log what the call did.

use axum::response::Response;
use threatgate_domain::{IncidentId, Permission, TenantScope};

use super::ApiFailure;
use super::access::AccessNote;
use crate::quotas::Api;
use crate::state::AppState;

/// Counts the call against the caller's quota, or refuses it with 429.
pub(super) fn throttle<P: Permission>(state: &AppState, scope: &TenantScope<P>, api: Api) -> Result<(), ApiFailure> {
    let Some(app) = scope.caller() else { return Ok(()) };
    state.quotas.check(scope.tenant(), app, api, crate::quotas::unix_millis(state.clock.now())).map_err(|exceeded| {
        let per = exceeded.per.as_secs();
        let retry = exceeded.retry_after.as_secs().max(1);
        ApiFailure::Throttled {
            message: format!(
                "API calls quota exceeded! maximum allowed {} per {:02}:{:02}:{:02}. Try again in {retry} seconds.",
                exceeded.limit,
                per / 3600,
                per % 3600 / 60,
                per % 60
            ),
            retry_after_seconds: retry,
        }
    })
}

/// Attaches what the call did, for the access log.
pub(super) fn noted(
    mut response: Response,
    incident_ids: Vec<IncidentId>,
    result: String,
    detail: Option<String>,
) -> Response {
    response.extensions_mut().insert(AccessNote { incident_ids, result, detail, request_id: None });
    response
}
