//! The Threat Protection API (`threat-protection-api.md` sections 2–6, 8, 9): incidents behind
//! bearer tokens, under `/api` and `/api/v1.0`, and the ingestion path for a tenant's own
//! detection sources; and Microsoft Graph's security API over the same data (`graph.rs`).

pub mod access;
mod auth;
mod errors;
mod graph;
mod graph_directory;
mod hunting;
mod incidents;
mod ingest;
mod respond;

use axum::Router;
use axum::routing::{get, post};

pub use errors::{ApiFailure, json_errors, shed_load};
pub use graph::{canonical_request, graph_failure, is_graph_path};

use crate::state::AppState;

/// The API routes, each under both `/api` and `/api/v1.0`; every call by a verified caller
/// lands in the partner access log.
pub fn router(state: AppState) -> Router<AppState> {
    let mut router = Router::new();
    for prefix in ["/api", "/api/v1.0"] {
        router = router
            .route(&format!("{prefix}/incidents"), get(incidents::list_incidents))
            .route(
                &format!("{prefix}/incidents/{{id}}"),
                get(incidents::get_incident).patch(incidents::update_incident),
            )
            .route(&format!("{prefix}/ingest/alerts"), post(ingest::ingest_alerts))
            .route(&format!("{prefix}/ingest/events/{{table}}"), post(ingest::ingest_events))
            .route(&format!("{prefix}/advancedhunting/run"), post(hunting::run))
            .route(&format!("{prefix}/$metadata"), get(metadata));
    }
    // Microsoft Graph's security API over the same data, under /v1.0 and /beta.
    for version in ["/v1.0", "/beta"] {
        router = router
            .route(&format!("{version}/security/incidents"), get(graph::list_incidents))
            .route(
                &format!("{version}/security/incidents/{{id}}"),
                get(graph::get_incident).patch(graph::update_incident),
            )
            .route(&format!("{version}/security/incidents/{{id}}/comments"), post(graph::comment_incident))
            .route(&format!("{version}/security/alerts_v2"), get(graph::list_alerts))
            .route(&format!("{version}/security/alerts_v2/{{id}}"), get(graph::get_alert).patch(graph::update_alert))
            .route(&format!("{version}/security/alerts_v2/{{id}}/comments"), post(graph::comment_alert))
            .route(&format!("{version}/security/runHuntingQuery"), post(graph::run_hunting_query))
            .route(
                &format!("{version}/security/microsoft.graph.security.runHuntingQuery"),
                post(graph::run_hunting_query),
            )
            .route(
                &format!("{version}/applications"),
                get(graph_directory::list_applications).post(graph_directory::create_application),
            )
            .route(&format!("{version}/applications/{{id}}"), get(graph_directory::get_application))
            .route(&format!("{version}/applications/{{id}}/addPassword"), post(graph_directory::add_password))
            .route(
                &format!("{version}/servicePrincipals"),
                get(graph_directory::list_service_principals).post(graph_directory::create_service_principal),
            )
            .route(&format!("{version}/servicePrincipals/{{id}}"), get(graph_directory::get_service_principal))
            .route(
                &format!("{version}/servicePrincipals/{{id}}/appRoleAssignedTo"),
                get(graph_directory::list_assigned_to).post(graph_directory::assign_to_resource),
            )
            .route(
                &format!("{version}/servicePrincipals/{{id}}/appRoleAssignedTo/{{assignment}}"),
                axum::routing::delete(graph_directory::remove_assigned_to),
            )
            .route(
                &format!("{version}/servicePrincipals/{{id}}/appRoleAssignments"),
                get(graph_directory::list_assignments_of).post(graph_directory::assign_to_client),
            )
            .route(
                &format!("{version}/servicePrincipals/{{id}}/appRoleAssignments/{{assignment}}"),
                axum::routing::delete(graph_directory::remove_assignment_of),
            );
    }
    router.route_layer(axum::middleware::from_fn_with_state(state, access::record_access))
}

/// `GET /api/$metadata`: the OData (CSDL) document the responses' `@odata.context` names,
/// describing the incidents the API serves. Public: it holds no tenant's data.
async fn metadata() -> impl axum::response::IntoResponse {
    const DOCUMENT: &str = include_str!("metadata.xml");
    ([(axum::http::header::CONTENT_TYPE, "application/xml; charset=utf-8")], DOCUMENT)
}
