//! The Threat Protection API's incidents: list (a typed filter, every page followed), get and
//! update, for one tenant at a time. The incident model is the server's (`threatgate-proto`).

use threatgate_domain::datetime::{format_ticks, to_ticks};
use threatgate_domain::{Classification, Determination, IncidentStatus};
use threatgate_proto::Incident;
use time::OffsetDateTime;

use crate::Client;
use crate::error::{Error, Result};
use crate::http::Repeat;

/// The API's resource (token audience).
pub const API_RESOURCE: &str = "https://api.security.microsoft.com";
/// Microsoft Graph's resource, whose tokens Graph's API takes.
pub const GRAPH_RESOURCE: &str = "https://graph.microsoft.com";
/// The API's largest page.
pub const MAX_PAGE: u32 = 100;

/// Microsoft Graph's largest page of incidents.
pub const MAX_GRAPH_PAGE: u32 = 50;

/// Which incidents to list: the clauses are joined with `and` into one `$filter`, in the
/// Threat Protection API's property names ([`IncidentFilter::to_odata`]) or Graph's
/// ([`IncidentFilter::to_graph_odata`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentFilter {
    clauses: Vec<Clause>,
    page_size: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Clause {
    UpdatedSince(String),
    CreatedSince(String),
    Status(IncidentStatus),
    AssignedTo(String),
    OData(String),
}

impl Clause {
    fn render(&self, graph: bool) -> String {
        match (self, graph) {
            (Clause::UpdatedSince(time), false) => format!("lastUpdateTime ge {time}"),
            (Clause::UpdatedSince(time), true) => format!("lastUpdateDateTime ge {time}"),
            (Clause::CreatedSince(time), false) => format!("createdTime ge {time}"),
            (Clause::CreatedSince(time), true) => format!("createdDateTime ge {time}"),
            (Clause::Status(status), false) => format!("status eq '{status}'"),
            (Clause::Status(status), true) => format!("status eq '{}'", graph_member(status.as_str())),
            (Clause::AssignedTo(owner), _) => format!("assignedTo eq '{}'", owner.replace('\'', "''")),
            (Clause::OData(expression), _) => format!("({expression})"),
        }
    }
}

/// An enum member as Graph spells it: `InProgress` → `inProgress`.
fn graph_member(member: &str) -> String {
    let mut chars = member.chars();
    chars.next().map(|first| first.to_ascii_lowercase().to_string() + chars.as_str()).unwrap_or_default()
}

impl Default for IncidentFilter {
    fn default() -> Self {
        Self { clauses: Vec::new(), page_size: MAX_PAGE }
    }
}

impl IncidentFilter {
    pub fn new() -> Self {
        Self::default()
    }

    /// `lastUpdateTime ge <time>`: what a poll asks for.
    pub fn updated_since(self, time: OffsetDateTime) -> Self {
        self.clause(Clause::UpdatedSince(format_ticks(to_ticks(time))))
    }

    /// `createdTime ge <time>`.
    pub fn created_since(self, time: OffsetDateTime) -> Self {
        self.clause(Clause::CreatedSince(format_ticks(to_ticks(time))))
    }

    /// `status eq '<status>'`.
    pub fn status(self, status: IncidentStatus) -> Self {
        self.clause(Clause::Status(status))
    }

    /// `assignedTo eq '<owner>'`.
    pub fn assigned_to(self, owner: &str) -> Self {
        self.clause(Clause::AssignedTo(owner.to_owned()))
    }

    /// Any other OData expression the API takes, in parentheses.
    pub fn odata(self, expression: &str) -> Self {
        self.clause(Clause::OData(expression.to_owned()))
    }

    /// Incidents per request (1 to 100; the default is 100).
    pub fn page_size(mut self, size: u32) -> Self {
        self.page_size = size.clamp(1, MAX_PAGE);
        self
    }

    fn clause(mut self, clause: Clause) -> Self {
        self.clauses.push(clause);
        self
    }

    /// The `$filter` value, if any clause was given.
    pub fn to_odata(&self) -> Option<String> {
        self.render(false)
    }

    /// The `$filter` value in Graph's names (`lastUpdateDateTime`, `status eq 'active'`); an
    /// [`IncidentFilter::odata`] expression is passed as written.
    pub fn to_graph_odata(&self) -> Option<String> {
        self.render(true)
    }

    fn render(&self, graph: bool) -> Option<String> {
        (!self.clauses.is_empty())
            .then(|| self.clauses.iter().map(|clause| clause.render(graph)).collect::<Vec<_>>().join(" and "))
    }
}

/// What an update changes; only the fields set are sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IncidentChanges {
    pub status: Option<IncidentStatus>,
    /// `Some("")` unassigns.
    pub assigned_to: Option<String>,
    pub classification: Option<Classification>,
    pub determination: Option<Determination>,
    /// Replaces the incident's tags.
    pub tags: Option<Vec<String>>,
    /// Appended to the incident's comments.
    pub comment: Option<String>,
}

impl IncidentChanges {
    /// The PATCH body (section 6).
    pub fn to_json(&self) -> serde_json::Value {
        let mut body = serde_json::Map::new();
        if let Some(status) = self.status {
            body.insert("status".into(), status.as_str().into());
        }
        if let Some(owner) = &self.assigned_to {
            body.insert("assignedTo".into(), owner.as_str().into());
        }
        if let Some(classification) = self.classification {
            body.insert("classification".into(), classification.as_str().into());
        }
        if let Some(determination) = self.determination {
            body.insert("determination".into(), determination.as_str().into());
        }
        if let Some(tags) = &self.tags {
            body.insert("tags".into(), tags.clone().into());
        }
        if let Some(comment) = &self.comment {
            body.insert("comment".into(), comment.as_str().into());
        }
        serde_json::Value::Object(body)
    }

    pub fn is_empty(&self) -> bool {
        self.to_json().as_object().is_none_or(serde_json::Map::is_empty)
    }
}

impl IncidentChanges {
    /// The Graph PATCH body (`graph-security-api.md` §6.3): Graph's names and members; the
    /// comment is not part of it (it is posted to `…/comments`).
    pub fn to_graph_json(&self) -> serde_json::Value {
        let mut body = serde_json::Map::new();
        if let Some(status) = self.status {
            body.insert("status".into(), graph_member(status.as_str()).into());
        }
        if let Some(owner) = &self.assigned_to {
            body.insert("assignedTo".into(), owner.as_str().into());
        }
        if let Some(classification) = self.classification {
            body.insert("classification".into(), graph_member(classification.as_str()).into());
        }
        if let Some(determination) = self.determination {
            // Graph's "no determination" is `unknown` (the API's `NotAvailable`).
            let member = match determination {
                Determination::NotAvailable => "unknown".to_owned(),
                other => graph_member(other.as_str()),
            };
            body.insert("determination".into(), member.into());
        }
        if let Some(tags) = &self.tags {
            body.insert("customTags".into(), tags.clone().into());
        }
        serde_json::Value::Object(body)
    }
}

/// A page of Graph's incidents, kept as Graph wrote them.
#[derive(serde::Deserialize)]
struct GraphPage {
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
    value: Vec<serde_json::Value>,
}

#[derive(serde::Deserialize)]
struct Page {
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
    value: Vec<Incident>,
}

impl Client {
    /// Every incident of `tenant` that matches, following the pages (`@odata.nextLink`, or
    /// `$skip` when the server gives none), newest change first.
    pub async fn list_incidents(&self, tenant: &str, filter: &IncidentFilter) -> Result<Vec<Incident>> {
        let mut incidents = Vec::new();
        let mut skip: u64 = 0;
        // A server that gives next links gives one on every page but the last.
        let mut server_pages = false;
        let mut url = self.incidents_url(filter, skip)?;
        loop {
            let body = self
                .api_call(tenant, Repeat::Safe, &url, |client, url, token| client.get(url).bearer_auth(token))
                .await?;
            let page: Page = serde_json::from_str(&body)
                .map_err(|e| Error::Protocol { url: url.to_string(), detail: format!("not an incident list: {e}") })?;
            let count = page.value.len();
            skip += count as u64;
            incidents.extend(page.value);
            url = match page.next_link {
                Some(next) => {
                    server_pages = true;
                    self.same_origin(&next)?
                }
                None if !server_pages && count > 0 && count as u64 == u64::from(filter.page_size) => {
                    self.incidents_url(filter, skip)?
                }
                None => break,
            };
            if count == 0 {
                break;
            }
        }
        Ok(incidents)
    }

    /// One incident of `tenant`.
    pub async fn get_incident(&self, tenant: &str, incident_id: i64) -> Result<Incident> {
        let url = self.api_url(&format!("api/incidents/{incident_id}"))?;
        let body =
            self.api_call(tenant, Repeat::Safe, &url, |client, url, token| client.get(url).bearer_auth(token)).await?;
        serde_json::from_str(&body)
            .map_err(|e| Error::Protocol { url: url.to_string(), detail: format!("not an incident: {e}") })
    }

    /// Updates an incident of `tenant`; returns it as changed.
    pub async fn update_incident(&self, tenant: &str, incident_id: i64, changes: &IncidentChanges) -> Result<Incident> {
        if changes.is_empty() {
            return Err(Error::Config("the update changes nothing".into()));
        }
        let url = self.api_url(&format!("api/incidents/{incident_id}"))?;
        let body = changes.to_json();
        // A comment is appended on every run: never resend a PATCH the server may have applied.
        let answer = self
            .api_call(tenant, Repeat::OnlyUnsent, &url, |client, url, token| {
                client.patch(url).bearer_auth(token).json(&body)
            })
            .await?;
        serde_json::from_str(&answer)
            .map_err(|e| Error::Protocol { url: url.to_string(), detail: format!("not an incident: {e}") })
    }

    /// Every incident of `tenant` that matches, through Microsoft Graph
    /// (`/v1.0/security/incidents`, a token for `https://graph.microsoft.com` with
    /// `SecurityIncident.Read.All`), following `@odata.nextLink`; each as Graph wrote it
    /// (`microsoft.graph.security.incident`), newest change first.
    pub async fn list_graph_incidents(&self, tenant: &str, filter: &IncidentFilter) -> Result<Vec<serde_json::Value>> {
        let mut url = self.graph_url("v1.0/security/incidents")?;
        {
            let mut query = url.query_pairs_mut();
            if let Some(odata) = filter.to_graph_odata() {
                query.append_pair("$filter", &odata);
            }
            query.append_pair("$top", &filter.page_size.min(MAX_GRAPH_PAGE).to_string());
        }
        let mut incidents = Vec::new();
        loop {
            let body = self
                .call_with(GRAPH_RESOURCE, tenant, Repeat::Safe, &url, |client, url, token| {
                    client.get(url).bearer_auth(token)
                })
                .await?;
            let page: GraphPage = serde_json::from_str(&body).map_err(|e| Error::Protocol {
                url: url.to_string(),
                detail: format!("not a Graph incident list: {e}"),
            })?;
            let count = page.value.len();
            incidents.extend(page.value);
            match page.next_link {
                Some(next) if count > 0 => url = same_origin(self.graph_base(), &next)?,
                _ => break,
            }
        }
        Ok(incidents)
    }

    /// One incident of `tenant` through Microsoft Graph, as Graph wrote it.
    pub async fn get_graph_incident(&self, tenant: &str, incident_id: i64) -> Result<serde_json::Value> {
        let url = self.graph_url(&format!("v1.0/security/incidents/{incident_id}"))?;
        let body = self
            .call_with(GRAPH_RESOURCE, tenant, Repeat::Safe, &url, |client, url, token| {
                client.get(url).bearer_auth(token)
            })
            .await?;
        serde_json::from_str(&body)
            .map_err(|e| Error::Protocol { url: url.to_string(), detail: format!("not a Graph incident: {e}") })
    }

    /// Updates an incident of `tenant` through Microsoft Graph (`SecurityIncident.ReadWrite.All`):
    /// a PATCH of what changes, then the comment, if any, posted to its `comments`. Returns the
    /// incident as changed.
    pub async fn update_graph_incident(
        &self,
        tenant: &str,
        incident_id: i64,
        changes: &IncidentChanges,
    ) -> Result<serde_json::Value> {
        if changes.is_empty() {
            return Err(Error::Config("the update changes nothing".into()));
        }
        let url = self.graph_url(&format!("v1.0/security/incidents/{incident_id}"))?;
        let patch = changes.to_graph_json();
        if patch.as_object().is_some_and(|fields| !fields.is_empty()) {
            self.call_with(GRAPH_RESOURCE, tenant, Repeat::OnlyUnsent, &url, |client, url, token| {
                client.patch(url).bearer_auth(token).json(&patch)
            })
            .await?;
        }
        if let Some(comment) = &changes.comment {
            let comments = self.graph_url(&format!("v1.0/security/incidents/{incident_id}/comments"))?;
            let body =
                serde_json::json!({ "@odata.type": "microsoft.graph.security.alertComment", "comment": comment });
            // Appended on every run: never resent once the server may have taken it.
            self.call_with(GRAPH_RESOURCE, tenant, Repeat::OnlyUnsent, &comments, |client, url, token| {
                client.post(url).bearer_auth(token).json(&body)
            })
            .await?;
        }
        self.get_graph_incident(tenant, incident_id).await
    }

    fn graph_url(&self, path: &str) -> Result<url::Url> {
        self.graph_base().join(path).map_err(|e| Error::Config(format!("Graph base {}: {e}", self.graph_base())))
    }

    fn incidents_url(&self, filter: &IncidentFilter, skip: u64) -> Result<url::Url> {
        let mut url = self.api_url("api/incidents")?;
        {
            let mut query = url.query_pairs_mut();
            if let Some(odata) = filter.to_odata() {
                query.append_pair("$filter", &odata);
            }
            query.append_pair("$top", &filter.page_size.to_string());
            if skip > 0 {
                query.append_pair("$skip", &skip.to_string());
            }
        }
        Ok(url)
    }

    pub(crate) fn api_url(&self, path: &str) -> Result<url::Url> {
        self.api_base.join(path).map_err(|e| Error::Config(format!("API base {}: {e}", self.api_base)))
    }

    /// A next link, only if it points at the API base's origin: a token is never sent elsewhere.
    fn same_origin(&self, link: &str) -> Result<url::Url> {
        same_origin(&self.api_base, link)
    }

    /// Calls the API with the tenant's token; a 401 with a cached token gets one more try
    /// with a fresh token (the old one may have been revoked or its key rotated).
    pub(crate) async fn api_call(
        &self,
        tenant: &str,
        repeat: Repeat,
        url: &url::Url,
        build: impl Fn(&reqwest::Client, url::Url, &str) -> reqwest::RequestBuilder,
    ) -> Result<String> {
        self.call_with(API_RESOURCE, tenant, repeat, url, build).await
    }

    /// A call with a token for `resource` (the Threat Protection API's or Graph's): once more
    /// with a fresh token if the cached one is refused.
    pub(crate) async fn call_with(
        &self,
        resource: &str,
        tenant: &str,
        repeat: Repeat,
        url: &url::Url,
        build: impl Fn(&reqwest::Client, url::Url, &str) -> reqwest::RequestBuilder,
    ) -> Result<String> {
        for attempt in 0..2 {
            let token = self.tokens.token(tenant, resource).await?;
            let result = self.http.send(repeat, || build(self.http.client(), url.clone(), &token)).await;
            match result {
                Err(Error::Service(error)) if error.status == 401 && attempt == 0 => {
                    tracing::debug!(tenant, "the API refused the cached token; getting a new one");
                    self.tokens.invalidate(tenant, resource).await;
                }
                other => return other.map(|answer| answer.body),
            }
        }
        Err(Error::Protocol { url: url.to_string(), detail: "the API refused a fresh token".into() })
    }
}

/// `link`, only if it has `base`'s origin.
fn same_origin(base: &url::Url, link: &str) -> Result<url::Url> {
    let url = url::Url::parse(link).map_err(|e| Error::Protocol { url: link.to_owned(), detail: e.to_string() })?;
    if url.origin() != base.origin() {
        return Err(Error::Protocol {
            url: link.to_owned(),
            detail: format!("the next page link leaves {base}; not following it"),
        });
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_is_the_odata_a_partner_would_write() {
        let since = time::macros::datetime!(2026-11-25 12:00 UTC);
        let filter = IncidentFilter::new()
            .updated_since(since)
            .status(IncidentStatus::Active)
            .assigned_to("o'brien@contoso.com")
            .page_size(500);
        assert_eq!(
            filter.to_odata().unwrap(),
            "lastUpdateTime ge 2026-11-25T12:00:00Z and status eq 'Active' and assignedTo eq 'o''brien@contoso.com'"
        );
        assert_eq!(
            filter.to_graph_odata().unwrap(),
            "lastUpdateDateTime ge 2026-11-25T12:00:00Z and status eq 'active' and assignedTo eq 'o''brien@contoso.com'"
        );
        assert_eq!(filter.page_size, 100);
        assert_eq!(IncidentFilter::new().to_odata(), None);
        assert_eq!(
            IncidentFilter::new().status(IncidentStatus::InProgress).to_graph_odata().unwrap(),
            "status eq 'inProgress'"
        );
    }

    #[test]
    fn changes_send_only_what_is_set() {
        let changes = IncidentChanges {
            status: Some(IncidentStatus::Resolved),
            classification: Some(Classification::TruePositive),
            determination: Some(Determination::Malware),
            comment: Some("done".into()),
            ..IncidentChanges::default()
        };
        assert_eq!(
            changes.to_json().to_string(),
            r#"{"status":"Resolved","classification":"TruePositive","determination":"Malware","comment":"done"}"#
        );
        assert_eq!(
            changes.to_graph_json().to_string(),
            r#"{"status":"resolved","classification":"truePositive","determination":"malware"}"#
        );
        assert!(IncidentChanges::default().is_empty());
    }
}
