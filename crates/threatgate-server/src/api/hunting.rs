//! `POST /api/advancedhunting/run` (spec section 7): a KQL query over the caller's tenant's
//! events, answered as `{"Stats", "Schema", "Results"}`. Needs `AdvancedHunting.Read.All`.

use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use threatgate_domain::RunHunting;
use threatgate_domain::datetime::to_ticks;
use threatgate_store::{HuntLimits, HuntRefusal};

use super::ApiFailure;
use super::auth::Authorized;
use super::incidents::{noted, throttle};
use super::quotas::Api;
use crate::routes::AppState;

/// Request bodies larger than this are refused (a query is at most 100,000 characters).
const MAX_BODY_BYTES: usize = 512 * 1024;

/// The body: `Query` is case-sensitive, as Microsoft documents it.
#[derive(Debug, Deserialize)]
struct RunRequest {
    #[serde(rename = "Query")]
    query: String,
}

pub async fn run(
    State(state): State<AppState>,
    Authorized(scope): Authorized<RunHunting>,
    body: Body,
) -> Result<Response, ApiFailure> {
    throttle(&state, &scope, Api::AdvancedHunting)?;
    let bytes: Bytes =
        axum::body::to_bytes(body, MAX_BODY_BYTES).await.map_err(|_| ApiFailure::TooLarge(MAX_BODY_BYTES))?;
    let request: RunRequest = serde_json::from_slice(&bytes).map_err(|error| {
        ApiFailure::InvalidRequestBody(format!("The body must be a JSON object with the query in \"Query\": {error}."))
    })?;
    let started = Instant::now();
    let plan = threatgate_hunting::parse(&request.query)
        .and_then(|query| threatgate_hunting::bind(&query))
        .map_err(|error| ApiFailure::BadRequest(error.describe(&request.query)))?;
    let limits =
        HuntLimits { max_rows: state.hunting.max_rows, timeout: Duration::from_secs(state.hunting.timeout_seconds) };
    let now = to_ticks(time::OffsetDateTime::now_utc());
    let output = match state.identity.store().run_hunt(&scope, &plan, now, limits).await? {
        Ok(output) => output,
        Err(HuntRefusal::TooManyRows) => {
            return Err(ApiFailure::BadRequest(format!(
                "Result size limit exceeded. Use \"summarize\" to aggregate results, \"project\" to drop uninteresting columns, or \"take\" to truncate results. (At most {} rows.)",
                limits.max_rows
            )));
        }
        Err(HuntRefusal::Timeout) => return Err(ApiFailure::BadRequest("Query exceeded the timeout period.".into())),
    };
    let schema: Vec<Value> =
        output.fields.iter().map(|f| json!({"Name": f.name, "Type": f.ty.schema_name()})).collect();
    let rows = output.rows.len();
    let results: Vec<Value> = output
        .rows
        .into_iter()
        .map(|row| {
            let object: Map<String, Value> = output.fields.iter().map(|f| f.name.clone()).zip(row).collect();
            Value::Object(object)
        })
        .collect();
    // Results are written once: their length is the reported size, and the body embeds them.
    let results = Value::Array(results).to_string();
    let stats = json!({
        "ExecutionTime": started.elapsed().as_secs_f64(),
        "dataset_statistics": [{"table_row_count": rows, "table_size": results.len()}],
    });
    let body = format!("{{\"Stats\":{stats},\"Schema\":{},\"Results\":{results}}}", Value::Array(schema));
    let response = ([(axum::http::header::CONTENT_TYPE, "application/json; charset=utf-8")], body).into_response();
    Ok(noted(response, Vec::new(), format!("{rows} rows"), Some(request.query.chars().take(2_000).collect())))
}
