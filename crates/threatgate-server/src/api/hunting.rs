//! `POST /api/advancedhunting/run` (spec section 7): a KQL query over the caller's tenant's
//! events, answered as `{"Stats", "Schema", "Results"}`. Needs `AdvancedHunting.Read.All`.

use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use threatgate_domain::{RunHunting, TenantScope, Ticks};
use threatgate_hunting::plan::Field;
use threatgate_store::{HuntLimits, HuntRefusal};

use super::ApiFailure;
use super::auth::Authorized;
use super::respond::{noted, throttle};
use crate::hunt_gate::{HuntBusy, RETRY_AFTER_SECONDS};
use crate::quotas::Api;
use crate::state::AppState;

/// Request bodies larger than this are refused (a query is at most 100,000 characters).
const MAX_BODY_BYTES: usize = 512 * 1024;

/// The body: `Query` is case-sensitive, as Microsoft documents it.
#[derive(Debug, Deserialize)]
struct RunRequest {
    #[serde(rename = "Query")]
    query: String,
}

#[tracing::instrument(skip_all, fields(tenant = %scope.tenant()))]
pub async fn run(
    State(state): State<AppState>,
    Authorized(scope): Authorized<RunHunting>,
    body: Body,
) -> Result<Response, ApiFailure> {
    throttle(&state, &scope, Api::AdvancedHunting)?;
    let bytes = read_body(body).await?;
    let request: RunRequest = serde_json::from_slice(&bytes).map_err(|error| {
        ApiFailure::InvalidRequestBody(format!("The body must be a JSON object with the query in \"Query\": {error}."))
    })?;
    let answer = execute(&state, &scope, &request.query).await?;
    let schema: Vec<Value> =
        answer.fields.iter().map(|f| json!({"Name": f.name, "Type": f.ty.schema_name()})).collect();
    let stats = json!({
        "ExecutionTime": answer.elapsed.as_secs_f64(),
        "dataset_statistics": [{"table_row_count": answer.rows, "table_size": answer.results.len()}],
    });
    let head = format!("{{\"Stats\":{stats},\"Schema\":{},\"Results\":", Value::Array(schema));
    Ok(answer.respond(head, &request.query))
}

/// The body of a hunting request, up to its limit.
pub(super) async fn read_body(body: Body) -> Result<Bytes, ApiFailure> {
    axum::body::to_bytes(body, MAX_BODY_BYTES).await.map_err(|_| ApiFailure::TooLarge(MAX_BODY_BYTES))
}

/// A query's answer: its columns, and its rows already written as the `Results` array.
pub(super) struct HuntAnswer {
    pub fields: Vec<Field>,
    pub rows: u64,
    pub results: Vec<u8>,
    pub elapsed: Duration,
}

impl HuntAnswer {
    /// The response: `head` (the object up to the results' key), the results, `}`; the
    /// access log notes the row count and the query.
    pub fn respond(self, head: String, query: &str) -> Response {
        let rows = self.rows;
        // The results, up to `max_result_bytes`, are written once and sent as they are.
        let chunks: [Result<Bytes, std::convert::Infallible>; 3] =
            [Ok(Bytes::from(head)), Ok(Bytes::from(self.results)), Ok(Bytes::from_static(b"}"))];
        let body = Body::from_stream(futures_util::stream::iter(chunks));
        let response = ([(axum::http::header::CONTENT_TYPE, "application/json; charset=utf-8")], body).into_response();
        noted(response, Vec::new(), format!("{rows} rows"), Some(query.chars().take(2_000).collect()))
    }
}

/// Parses, binds and runs `query` over the tenant's events, within the hunting limits and the
/// tenant's fair share of places; every refusal in the service's wording.
pub(super) async fn execute(
    state: &AppState,
    scope: &TenantScope<RunHunting>,
    query: &str,
) -> Result<HuntAnswer, ApiFailure> {
    let started = Instant::now();
    let plan = threatgate_hunting::parse(query)
        .and_then(|query| threatgate_hunting::bind(&query))
        .map_err(|error| ApiFailure::BadRequest(error.describe(query)))?;
    let _place = state.hunt_gate.enter(scope.tenant()).await.map_err(busy)?;
    let limits =
        HuntLimits { max_rows: state.hunting.max_rows, timeout: Duration::from_secs(state.hunting.timeout_seconds) };
    let now = Ticks::at(state.clock.now());
    let mut results = ResultsWriter::new(&plan.fields(), state.hunting.max_result_bytes);
    let mut sink = |row| results.push(row);
    let outcome = state.store.stream_hunt(scope, &plan, now, limits, &mut sink).await?;
    let fields = match outcome {
        Ok(fields) => fields,
        Err(HuntRefusal::TooManyRows) => {
            return Err(ApiFailure::BadRequest(format!(
                "Result size limit exceeded. Use \"summarize\" to aggregate results, \"project\" to drop uninteresting columns, or \"take\" to truncate results. (At most {} rows.)",
                limits.max_rows
            )));
        }
        Err(HuntRefusal::Stopped) => {
            return Err(ApiFailure::BadRequest(format!(
                "Query execution has exceeded the allowed result size. Optimize your query by limiting the amount of results and try again. (At most {} bytes.)",
                state.hunting.max_result_bytes
            )));
        }
        Err(HuntRefusal::Timeout) => return Err(ApiFailure::BadRequest("Query exceeded the timeout period.".into())),
        Err(HuntRefusal::Invalid(message)) => return Err(ApiFailure::BadRequest(format!("Semantic error: {message}"))),
    };
    let (rows, results) = results.finish();
    Ok(HuntAnswer { fields, rows, results, elapsed: started.elapsed() })
}

/// A query that may not start now: 429 with `Retry-After`, whoever holds the places.
fn busy(busy: HuntBusy) -> ApiFailure {
    let message = match busy {
        HuntBusy::Tenant { limit } => format!(
            "Too many advanced hunting queries of this tenant are running: at most {limit} at once. Try again in {RETRY_AFTER_SECONDS} seconds."
        ),
        HuntBusy::Server => {
            format!("Advanced hunting is busy with other queries. Try again in {RETRY_AFTER_SECONDS} seconds.")
        }
    };
    ApiFailure::Throttled { message, retry_after_seconds: RETRY_AFTER_SECONDS }
}

/// `Results` written as rows arrive: each row becomes its JSON object at once (keys in column
/// order), so no row is held as values. Takes no more rows once the text passes `max_bytes`.
struct ResultsWriter {
    /// Each column's name as a JSON string.
    keys: Vec<String>,
    text: Vec<u8>,
    rows: u64,
    max_bytes: u64,
}

impl ResultsWriter {
    fn new(fields: &[Field], max_bytes: u64) -> Self {
        let keys = fields.iter().map(|f| Value::String(f.name.clone()).to_string()).collect();
        Self { keys, text: vec![b'['], rows: 0, max_bytes }
    }

    /// Writes a row; `false` once the results are over the limit.
    fn push(&mut self, row: Vec<Value>) -> bool {
        if self.rows > 0 {
            self.text.push(b',');
        }
        self.text.push(b'{');
        for (i, (key, value)) in self.keys.iter().zip(&row).enumerate() {
            if i > 0 {
                self.text.push(b',');
            }
            self.text.extend_from_slice(key.as_bytes());
            self.text.push(b':');
            // Writing a `Value` into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut self.text, value);
        }
        self.text.push(b'}');
        self.rows += 1;
        self.text.len() as u64 <= self.max_bytes
    }

    /// The row count and the whole `Results` array.
    fn finish(mut self) -> (u64, Vec<u8>) {
        self.text.push(b']');
        (self.rows, self.text)
    }
}

#[cfg(test)]
mod tests {
    use threatgate_hunting::schema::Type;

    use super::*;

    fn fields() -> Vec<Field> {
        vec![Field { name: "DeviceName".into(), ty: Type::String }, Field { name: "Count".into(), ty: Type::Long }]
    }

    #[test]
    fn results_are_objects_in_column_order() {
        let mut writer = ResultsWriter::new(&fields(), 1_000);
        assert!(writer.push(vec![json!("pc \"1\""), json!(3)]));
        assert!(writer.push(vec![json!("pc2"), Value::Null]));
        let (rows, text) = writer.finish();
        assert_eq!(rows, 2);
        assert_eq!(
            String::from_utf8(text).expect("utf-8"),
            r#"[{"DeviceName":"pc \"1\"","Count":3},{"DeviceName":"pc2","Count":null}]"#
        );
        let (rows, text) = ResultsWriter::new(&fields(), 1_000).finish();
        assert_eq!((rows, text.as_slice()), (0, b"[]".as_slice()));
    }

    #[test]
    fn the_writer_stops_taking_rows_past_its_size() {
        let mut writer = ResultsWriter::new(&fields(), 64);
        assert!(writer.push(vec![json!("a"), json!(1)]));
        assert!(!writer.push(vec![json!("x".repeat(64)), json!(2)]));
    }
}
