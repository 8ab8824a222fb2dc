//! Authentication as an extractor: `Authorized<P>` verifies the bearer token and the role that
//! permission `P` needs, and yields the only way to the caller's tenant data, a
//! `TenantScope<P>`. Failures: 401 with `WWW-Authenticate: Bearer`, 403 without the role.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use threatgate_domain::{MICROSOFT_GRAPH, Permission, TenantScope};

use super::ApiFailure;
use super::access::{Caller, CallerSlot};
use crate::state::AppState;

/// A caller allowed to act with permission `P` in its token's tenant.
#[derive(Debug)]
pub struct Authorized<P: Permission>(pub TenantScope<P>);

impl<P: Permission> FromRequestParts<AppState> for Authorized<P> {
    type Rejection = ApiFailure;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(header::AUTHORIZATION).and_then(|value| value.to_str().ok());
        let token = header
            .and_then(|value| value.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or_else(|| ApiFailure::Unauthorized(threatgate_identity::BearerError::Missing.to_string()))?;
        let caller =
            state.identity.verify_bearer(token).map_err(|error| ApiFailure::Unauthorized(error.to_string()))?;
        // A token for another resource (Microsoft Graph's at this API) is not for this audience.
        if caller.resource.app_id != P::RESOURCE.app_id {
            return Err(ApiFailure::Unauthorized(threatgate_identity::BearerError::Audience.to_string()));
        }
        if let Some(slot) = parts.extensions.get::<CallerSlot>() {
            slot.fill(Caller { tenant: caller.tenant, app_id: caller.app_id, app_name: caller.app_name.clone() });
        }
        caller.authorize::<P>().map(Authorized).ok_or_else(|| {
            if P::RESOURCE.app_id == MICROSOFT_GRAPH.app_id {
                // Graph's wording (graph-security-api.md §4.5).
                return ApiFailure::Forbidden(format!(
                    "Missing application roles. API required roles: {}, application roles: {}.",
                    P::ROLES.join(","),
                    caller.roles.join(",")
                ));
            }
            let needed = P::ROLES.join(" or ");
            let own = if P::OWN_APPLICATION_ONLY { ", in an application registered in the tenant itself" } else { "" };
            ApiFailure::Forbidden(format!("The application needs the {needed} permission{own}."))
        })
    }
}
