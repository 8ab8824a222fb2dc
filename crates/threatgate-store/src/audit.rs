//! The audit trail as one stream: the audit events and the API calls of the access log,
//! merged newest first, and written as JSON lines.

use threatgate_domain::{AppId, ReadAccessLog, TenantScope};

use crate::{AccessLogQuery, AuditQuery, Result, Store, StoredAccessEntry, StoredAuditEvent};

/// One record of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditRecord {
    /// A call of the Threat Protection API.
    Api(StoredAccessEntry),
    /// A change, a consent or a token.
    Event(StoredAuditEvent),
}

impl AuditRecord {
    /// The record's identity across both sources.
    fn key(&self) -> (bool, i64) {
        match self {
            Self::Api(entry) => (true, entry.id),
            Self::Event(event) => (false, event.id),
        }
    }

    /// When it happened, in ticks.
    pub fn at(&self) -> i64 {
        match self {
            Self::Api(entry) => entry.entry.at,
            Self::Event(event) => event.event.at,
        }
    }

    /// The record as one line of JSON (no newline): `time` and `category` first, then the
    /// record's own fields.
    pub fn json_line(&self) -> String {
        #[derive(serde::Serialize)]
        struct Line<'a, T> {
            time: String,
            category: &'static str,
            #[serde(flatten)]
            record: &'a T,
        }
        let time = threatgate_domain::datetime::format_ticks(self.at());
        let line = match self {
            Self::Api(entry) => serde_json::to_string(&Line { time, category: "api", record: &entry.entry }),
            Self::Event(event) => {
                serde_json::to_string(&Line { time, category: event.event.category.as_str(), record: &event.event })
            }
        };
        line.unwrap_or_default()
    }
}

/// Which part of a tenant's audit trail to read.
#[derive(Debug, Clone, Default)]
pub struct AuditTrailQuery {
    /// The applications registered in the tenant: their records in every other tenant are
    /// part of its trail.
    pub applications: Vec<AppId>,
    /// Only records at or after these ticks.
    pub since: Option<i64>,
    /// Only records before these ticks (the next page after a page ending there).
    pub until: Option<i64>,
    pub limit: u32,
}

/// The newest `limit` records of the tenant's trail in the window, newest first: what
/// happened in the tenant, and what its applications did anywhere.
pub async fn read_audit_trail(
    store: &dyn Store,
    scope: &TenantScope<ReadAccessLog>,
    query: &AuditTrailQuery,
) -> Result<Vec<AuditRecord>> {
    let events = store
        .list_audit_events(scope, &AuditQuery { since: query.since, until: query.until, limit: query.limit })
        .await?;
    let calls = store
        .list_access_entries(
            scope,
            &AccessLogQuery {
                since: query.since,
                until: query.until,
                applications: query.applications.clone(),
                limit: query.limit,
                ..AccessLogQuery::default()
            },
        )
        .await?;
    let mut records: Vec<AuditRecord> =
        events.into_iter().map(AuditRecord::Event).chain(calls.into_iter().map(AuditRecord::Api)).collect();
    // A stable sort: records of the same tick keep their source order.
    records.sort_by_key(|record| std::cmp::Reverse(record.at()));
    records.truncate(query.limit as usize);
    Ok(records)
}

/// Reads a tenant's whole trail in the window, newest first, a page at a time: each page
/// continues where the last one ended, without repeating or skipping records that share the
/// boundary's tick.
#[derive(Debug)]
pub struct AuditTrailPages {
    query: AuditTrailQuery,
    /// The oldest tick returned so far and the records returned at it.
    boundary: Option<(i64, Vec<(bool, i64)>)>,
    done: bool,
}

impl AuditTrailPages {
    pub fn new(query: AuditTrailQuery) -> Self {
        Self { query, boundary: None, done: false }
    }

    /// The next page; empty when the trail is read.
    pub async fn next_page(
        &mut self,
        store: &dyn Store,
        scope: &TenantScope<ReadAccessLog>,
    ) -> Result<Vec<AuditRecord>> {
        if self.done {
            return Ok(Vec::new());
        }
        let mut query = self.query.clone();
        if let Some((tick, _)) = &self.boundary {
            query.until = Some(tick + 1);
        }
        let page = read_audit_trail(store, scope, &query).await?;
        let full = page.len() == query.limit as usize;
        let seen = |record: &AuditRecord| {
            self.boundary.as_ref().is_some_and(|(tick, keys)| record.at() == *tick && keys.contains(&record.key()))
        };
        let fresh: Vec<AuditRecord> = page.into_iter().filter(|record| !seen(record)).collect();
        if let Some(last) = fresh.last() {
            let tick = last.at();
            let mut keys: Vec<(bool, i64)> = match self.boundary.take() {
                Some((previous, keys)) if previous == tick => keys,
                _ => Vec::new(),
            };
            keys.extend(fresh.iter().filter(|record| record.at() == tick).map(AuditRecord::key));
            self.boundary = Some((tick, keys));
        }
        // A page with nothing new would repeat forever (more records at one tick than a page).
        self.done = !full || fresh.is_empty();
        Ok(fresh)
    }
}
