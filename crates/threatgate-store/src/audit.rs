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
