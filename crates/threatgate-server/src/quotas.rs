//! Call quotas per tenant, application and API (spec README decision 7): a per-minute and a
//! per-hour budget each, counted with a sliding-window estimate (the previous window's count
//! weighted by how much of it still overlaps, plus the current one).
//!
//! Counted across nodes: windows are aligned to the wall clock, each node counts its own calls
//! and reports them to the store every [`SYNC_INTERVAL`] (one upsert for all), reading back the
//! totals of every node. A node decides on what it knows: the totals as of its last report
//! plus its own calls since. So beyond a budget the service may admit the calls each node
//! receives before it has read the others' latest counts: another node reports within one
//! interval and this node reads within the next, so at most what arrives at each node in about
//! half a second (one or two calls for a client polling a tenant). With one node nothing
//! changes from a single process; with the store unreachable each node counts alone (logged).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use threatgate_domain::{AppId, TenantId};
use threatgate_store::{QuotaCount, QuotaStore};

/// How often a node reports its counts and learns the others'.
pub const SYNC_INTERVAL: Duration = Duration::from_millis(250);

/// The APIs with quotas of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    ListIncidents,
    GetIncident,
    UpdateIncident,
    AdvancedHunting,
    /// Alerts and events submitted by the tenant's own sources.
    Ingest,
    /// Microsoft Graph's directory subset (applications, service principals, app roles).
    Directory,
}

impl Api {
    fn as_str(self) -> &'static str {
        match self {
            Self::ListIncidents => "list",
            Self::GetIncident => "get",
            Self::UpdateIncident => "update",
            Self::AdvancedHunting => "hunt",
            Self::Ingest => "ingest",
            Self::Directory => "directory",
        }
    }
}

/// Limits per tenant and application; `enabled = false` turns quotas off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuotaLimits {
    pub enabled: bool,
    pub list_per_minute: u32,
    pub list_per_hour: u32,
    pub get_per_minute: u32,
    pub get_per_hour: u32,
    pub update_per_minute: u32,
    pub update_per_hour: u32,
    /// Advanced hunting: 15 calls a minute per tenant (spec 7.1); no hourly call limit is
    /// documented, so the hour allows the minute's rate throughout.
    pub hunting_per_minute: u32,
    pub hunting_per_hour: u32,
    /// Ingestion (`/api/ingest/…`, alerts and events together): Microsoft has no such API, so
    /// the budget is ours: enough for a source submitting a batch a second, not enough for one
    /// tenant to keep the store's writer busy.
    pub ingest_per_minute: u32,
    pub ingest_per_hour: u32,
    /// Microsoft Graph's directory calls (onboarding scripts: a handful per customer).
    pub directory_per_minute: u32,
    pub directory_per_hour: u32,
}

impl Default for QuotaLimits {
    fn default() -> Self {
        Self {
            enabled: true,
            list_per_minute: 50,
            list_per_hour: 1500,
            get_per_minute: 100,
            get_per_hour: 1500,
            update_per_minute: 50,
            update_per_hour: 1500,
            hunting_per_minute: 15,
            hunting_per_hour: 900,
            ingest_per_minute: 60,
            ingest_per_hour: 1800,
            directory_per_minute: 60,
            directory_per_hour: 1800,
        }
    }
}

impl QuotaLimits {
    fn limits(&self, api: Api) -> [(u32, Duration); 2] {
        let (minute, hour) = match api {
            Api::ListIncidents => (self.list_per_minute, self.list_per_hour),
            Api::GetIncident => (self.get_per_minute, self.get_per_hour),
            Api::UpdateIncident => (self.update_per_minute, self.update_per_hour),
            Api::AdvancedHunting => (self.hunting_per_minute, self.hunting_per_hour),
            Api::Ingest => (self.ingest_per_minute, self.ingest_per_hour),
            Api::Directory => (self.directory_per_minute, self.directory_per_hour),
        };
        [(minute, Duration::from_secs(60)), (hour, Duration::from_secs(3600))]
    }
}

/// A moment as the quota counters take it: Unix milliseconds.
pub fn unix_millis(time: time::OffsetDateTime) -> i64 {
    i64::try_from(time.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// One window's count as this node knows it.
#[derive(Debug, Clone, Copy, Default)]
struct Count {
    /// Every node's calls, as of the last report.
    reported: u64,
    /// This node's calls since, not yet reported.
    pending: u64,
    /// When this node last admitted a call in the window (Unix ms).
    last_call_ms: i64,
}

/// A window this node admitted a call in this recently is re-read at every report, so that a
/// client spreading calls over nodes meets every node's count within one or two reports.
const RECENT_CALL_MS: i64 = 2_000;

impl Count {
    fn known(self) -> u64 {
        self.reported + self.pending
    }
}

/// (tenant, application, API, window length in seconds, window index).
type WindowKey = (TenantId, AppId, Api, i64, i64);

/// A refused call: the limit that was reached and when to retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exceeded {
    pub limit: u32,
    pub per: Duration,
    pub retry_after: Duration,
}

/// The counters of this node.
#[derive(Debug)]
pub struct Quotas {
    limits: QuotaLimits,
    counts: Mutex<HashMap<WindowKey, Count>>,
}

impl Quotas {
    pub fn new(limits: QuotaLimits) -> Self {
        Self { limits, counts: Mutex::new(HashMap::new()) }
    }

    /// Counts a call at `now_ms` (Unix milliseconds), or refuses it when a budget is spent (a
    /// refused call is not counted).
    pub fn check(&self, tenant: TenantId, app: AppId, api: Api, now_ms: i64) -> Result<(), Exceeded> {
        if !self.limits.enabled {
            return Ok(());
        }
        let mut counts = self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let limits = self.limits.limits(api);
        let mut windows = [(0, 0); 2];
        for (slot, (limit, length)) in limits.iter().enumerate() {
            let length_ms = i64::try_from(length.as_millis()).unwrap_or(i64::MAX);
            let index = now_ms.div_euclid(length_ms);
            let elapsed = now_ms.rem_euclid(length_ms) as f64 / length_ms as f64;
            let length_seconds = length_ms / 1000;
            let known =
                |index| counts.get(&(tenant, app, api, length_seconds, index)).copied().unwrap_or_default().known();
            let estimate = known(index - 1) as f64 * (1.0 - elapsed) + known(index) as f64;
            if estimate + 1.0 > f64::from(*limit) {
                let retry_after = Duration::from_millis(u64::try_from((index + 1) * length_ms - now_ms).unwrap_or(0))
                    .max(Duration::from_secs(1));
                return Err(Exceeded { limit: *limit, per: *length, retry_after });
            }
            windows[slot] = (length_seconds, index);
        }
        for (length_seconds, index) in windows {
            let count = counts.entry((tenant, app, api, length_seconds, index)).or_default();
            count.pending += 1;
            count.last_call_ms = now_ms;
        }
        Ok(())
    }

    /// Forgets every count of this node (the emulator's reset, after the shared counts are
    /// removed from the store).
    pub fn forget(&self) {
        self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
    }

    /// Reports this node's calls since the last report and learns every node's totals (run
    /// every [`SYNC_INTERVAL`]). Windows that ended more than one window ago are forgotten.
    /// Windows used here in the last two seconds, or near their limit, are re-read even
    /// without new calls of this node, so that other nodes' calls count here too.
    pub async fn sync(&self, store: &dyn QuotaStore, now_ms: i64) -> threatgate_store::Result<()> {
        if !self.limits.enabled {
            return Ok(());
        }
        let (keys, batch) = {
            let mut counts = self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            counts.retain(|(_, _, _, length_seconds, index), _| (index + 2) * length_seconds * 1000 > now_ms);
            let mut keys = Vec::new();
            let mut batch = Vec::new();
            for (key, count) in counts.iter() {
                let (tenant, app, api, length_seconds, index) = *key;
                let limit = self.limit_of(api, length_seconds);
                let recent = now_ms - count.last_call_ms < RECENT_CALL_MS;
                if count.pending == 0 && !recent && count.known() * 2 < u64::from(limit) {
                    continue;
                }
                keys.push((*key, count.pending));
                batch.push(QuotaCount {
                    key: format!("{tenant}/{app}/{}", api.as_str()),
                    length_seconds,
                    window_index: index,
                    calls: i64::try_from(count.pending).unwrap_or(i64::MAX),
                });
            }
            (keys, batch)
        };
        if batch.is_empty() {
            return Ok(());
        }
        let totals = store.add_quota_counts(&batch).await?;
        let mut counts = self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for ((key, sent), total) in keys.into_iter().zip(totals) {
            if let Some(count) = counts.get_mut(&key) {
                // Calls made while the report was on its way stay pending for the next one.
                count.pending -= sent.min(count.pending);
                count.reported = u64::try_from(total.calls).unwrap_or_default();
            }
        }
        Ok(())
    }

    fn limit_of(&self, api: Api, length_seconds: i64) -> u32 {
        self.limits
            .limits(api)
            .iter()
            .find(|(_, length)| i64::try_from(length.as_secs()).unwrap_or_default() == length_seconds)
            .map_or(u32::MAX, |(limit, _)| *limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> (TenantId, AppId) {
        (TenantId::from_uuid(uuid::Uuid::from_u128(1)), AppId::from_uuid(uuid::Uuid::from_u128(2)))
    }

    /// 12:00:00 on some day: the start of a minute and of an hour.
    const NOON_MS: i64 = 1_790_000_000_000 - 1_790_000_000_000 % 3_600_000;

    #[test]
    fn the_fifty_first_list_call_in_a_minute_is_refused_until_the_window_moves() {
        let quotas = Quotas::new(QuotaLimits::default());
        let (tenant, app) = ids();
        for _ in 0..50 {
            assert!(quotas.check(tenant, app, Api::ListIncidents, NOON_MS + 1_000).is_ok());
        }
        let refused = quotas.check(tenant, app, Api::ListIncidents, NOON_MS + 1_000).unwrap_err();
        assert_eq!((refused.limit, refused.per), (50, Duration::from_secs(60)));
        assert_eq!(refused.retry_after, Duration::from_secs(59), "until the minute ends");
        assert!(quotas.check(tenant, app, Api::GetIncident, NOON_MS + 1_000).is_ok(), "each API has its own budget");
        // Half into the next minute, half of the last minute's 50 still count.
        assert!(quotas.check(tenant, app, Api::ListIncidents, NOON_MS + 60_000 + 30_000).is_ok());
        assert!(quotas.check(tenant, app, Api::ListIncidents, NOON_MS + 121_000).is_ok());
    }

    #[test]
    fn quotas_can_be_switched_off() {
        let quotas = Quotas::new(QuotaLimits { enabled: false, ..QuotaLimits::default() });
        let (tenant, app) = ids();
        for _ in 0..1000 {
            assert!(quotas.check(tenant, app, Api::UpdateIncident, NOON_MS).is_ok());
        }
    }

    #[tokio::test]
    async fn two_nodes_share_one_budget_through_the_store() {
        let store = threatgate_store::SqliteStore::open_in_memory().await.unwrap();
        let (node1, node2) = (Quotas::new(QuotaLimits::default()), Quotas::new(QuotaLimits::default()));
        let (tenant, app) = ids();
        let at = NOON_MS + 5_000;
        for _ in 0..30 {
            assert!(node1.check(tenant, app, Api::ListIncidents, at).is_ok());
        }
        node1.sync(&store, at).await.unwrap();
        node2.sync(&store, at).await.unwrap();
        // Node 2 has heard nothing yet of node 1's calls; it learns them at its first report.
        assert!(node2.check(tenant, app, Api::ListIncidents, at).is_ok());
        node2.sync(&store, at).await.unwrap();
        for _ in 0..19 {
            assert!(node2.check(tenant, app, Api::ListIncidents, at).is_ok());
        }
        let refused = node2.check(tenant, app, Api::ListIncidents, at).unwrap_err();
        assert_eq!(refused.limit, 50, "30 on node 1 + 20 on node 2");
        // And node 1, once it reports, refuses too (its budget is spent on node 2).
        node2.sync(&store, at).await.unwrap();
        node1.sync(&store, at).await.unwrap();
        assert!(node1.check(tenant, app, Api::ListIncidents, at).is_err());
        // A window near its limit is re-read even when this node made no new call.
        assert!(store.delete_quota_counts_before(threatgate_domain::UnixSeconds(NOON_MS / 1000)).await.is_ok());
    }
}
