//! Advanced hunting: one KQL query in one tenant (`POST /api/advancedhunting/run`, or Microsoft
//! Graph's `POST /v1.0/security/runHuntingQuery`).

use serde::{Deserialize, Serialize};

use crate::Client;
use crate::error::{Error, Result};
use crate::http::Repeat;
use crate::incidents::GRAPH_RESOURCE;

/// A column of a hunting result: its name and the service's type name (`String`, `DateTime`,
/// `Int32`, `Int64`, `Double`, `Boolean`, `TimeSpan`, `Object`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HuntingColumn {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Type")]
    pub kind: String,
}

/// What a hunting query answered: the service's `Stats` as given, the columns in order, and
/// each row as an object of column name to value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HuntingResult {
    #[serde(rename = "Stats", default)]
    pub stats: serde_json::Value,
    #[serde(rename = "Schema")]
    pub schema: Vec<HuntingColumn>,
    #[serde(rename = "Results")]
    pub results: Vec<serde_json::Map<String, serde_json::Value>>,
}

impl HuntingResult {
    /// The rows as values in the schema's column order (`null` where a row lacks a column).
    pub fn rows(&self) -> impl Iterator<Item = Vec<&serde_json::Value>> {
        self.results
            .iter()
            .map(|row| self.schema.iter().map(|c| row.get(&c.name).unwrap_or(&serde_json::Value::Null)).collect())
    }
}

impl Client {
    /// Runs `query` (KQL) over `tenant`'s events. A query only reads, so a failed attempt is
    /// retried like a read; the service's errors (syntax with its position, unknown names,
    /// result size, timeout, quota) come back as [`Error::Service`].
    pub async fn run_hunting_query(&self, tenant: &str, query: &str) -> Result<HuntingResult> {
        let url = self.api_url("api/advancedhunting/run")?;
        let body = serde_json::json!({ "Query": query });
        let answer = self
            .api_call(tenant, Repeat::Safe, &url, |client, url, token| client.post(url).bearer_auth(token).json(&body))
            .await?;
        serde_json::from_str(&answer)
            .map_err(|e| Error::Protocol { url: url.to_string(), detail: format!("not a hunting result: {e}") })
    }

    /// Runs `query` through Microsoft Graph's `runHuntingQuery` (a token for
    /// `https://graph.microsoft.com` with `ThreatHunting.Read.All`); Graph's `schema`/`results`
    /// are read into the same [`HuntingResult`] (no `Stats`: Graph gives none).
    pub async fn run_graph_hunting_query(&self, tenant: &str, query: &str) -> Result<HuntingResult> {
        let url = self
            .graph_base()
            .join("v1.0/security/runHuntingQuery")
            .map_err(|e| Error::Config(format!("Graph base: {e}")))?;
        let body = serde_json::json!({ "Query": query });
        let answer = self
            .call_with(GRAPH_RESOURCE, tenant, Repeat::Safe, &url, |client, url, token| {
                client.post(url).bearer_auth(token).json(&body)
            })
            .await?;
        #[derive(Deserialize)]
        struct GraphColumn {
            name: String,
            #[serde(rename = "type")]
            kind: String,
        }
        #[derive(Deserialize)]
        struct GraphResults {
            schema: Vec<GraphColumn>,
            results: Vec<serde_json::Map<String, serde_json::Value>>,
        }
        let graph: GraphResults = serde_json::from_str(&answer)
            .map_err(|e| Error::Protocol { url: url.to_string(), detail: format!("not Graph hunting results: {e}") })?;
        Ok(HuntingResult {
            stats: serde_json::Value::Null,
            schema: graph.schema.into_iter().map(|c| HuntingColumn { name: c.name, kind: c.kind }).collect(),
            results: graph.results,
        })
    }
}
