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

/// Which incidents to list: the clauses are joined with `and` into one `$filter`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentFilter {
    clauses: Vec<String>,
    page_size: u32,
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
        self.clause(format!("lastUpdateTime ge {}", format_ticks(to_ticks(time))))
    }

    /// `createdTime ge <time>`.
    pub fn created_since(self, time: OffsetDateTime) -> Self {
        self.clause(format!("createdTime ge {}", format_ticks(to_ticks(time))))
    }

    /// `status eq '<status>'`.
    pub fn status(self, status: IncidentStatus) -> Self {
        self.clause(format!("status eq '{status}'"))
    }

    /// `assignedTo eq '<owner>'`.
    pub fn assigned_to(self, owner: &str) -> Self {
        self.clause(format!("assignedTo eq '{}'", owner.replace('\'', "''")))
    }

    /// Any other OData expression the API takes, in parentheses.
    pub fn odata(self, expression: &str) -> Self {
        self.clause(format!("({expression})"))
    }

    /// Incidents per request (1 to 100; the default is 100).
    pub fn page_size(mut self, size: u32) -> Self {
        self.page_size = size.clamp(1, MAX_PAGE);
        self
    }

    fn clause(mut self, clause: String) -> Self {
        self.clauses.push(clause);
        self
    }

    /// The `$filter` value, if any clause was given.
    pub fn to_odata(&self) -> Option<String> {
        (!self.clauses.is_empty()).then(|| self.clauses.join(" and "))
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
        let url = url::Url::parse(link).map_err(|e| Error::Protocol { url: link.to_owned(), detail: e.to_string() })?;
        if url.origin() != self.api_base.origin() {
            return Err(Error::Protocol {
                url: link.to_owned(),
                detail: format!("the next page link leaves {}; not following it", self.api_base),
            });
        }
        Ok(url)
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
        assert_eq!(filter.page_size, 100);
        assert_eq!(IncidentFilter::new().to_odata(), None);
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
        assert!(IncidentChanges::default().is_empty());
    }
}
