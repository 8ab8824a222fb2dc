//! Call quotas per tenant, application and API (spec README decision 7): a per-minute and a
//! per-hour budget each, counted with a sliding-window estimate (the previous window's count
//! weighted by how much of it still overlaps, plus the current one). Counted in this process:
//! each node of a multi-node deployment counts its own calls.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use threatgate_domain::{AppId, TenantId};

/// The APIs with quotas of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    ListIncidents,
    GetIncident,
    UpdateIncident,
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
        }
    }
}

impl QuotaLimits {
    fn limits(&self, api: Api) -> [(u32, Duration); 2] {
        let (minute, hour) = match api {
            Api::ListIncidents => (self.list_per_minute, self.list_per_hour),
            Api::GetIncident => (self.get_per_minute, self.get_per_hour),
            Api::UpdateIncident => (self.update_per_minute, self.update_per_hour),
        };
        [(minute, Duration::from_secs(60)), (hour, Duration::from_secs(3600))]
    }
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    current: u32,
    previous: u32,
}

/// A refused call: the limit that was reached and when to retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exceeded {
    pub limit: u32,
    pub per: Duration,
    pub retry_after: Duration,
}

/// The counters.
#[derive(Debug)]
pub struct Quotas {
    limits: QuotaLimits,
    windows: Mutex<HashMap<(TenantId, AppId, Api, usize), Window>>,
}

impl Quotas {
    pub fn new(limits: QuotaLimits) -> Self {
        Self { limits, windows: Mutex::new(HashMap::new()) }
    }

    /// Counts a call at `now`, or refuses it when a budget is spent (a refused call is not
    /// counted).
    pub fn check(&self, tenant: TenantId, app: AppId, api: Api, now: Instant) -> Result<(), Exceeded> {
        if !self.limits.enabled {
            return Ok(());
        }
        let mut windows = self.windows.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let limits = self.limits.limits(api);
        let mut slots = [None, None];
        for (index, (limit, length)) in limits.iter().enumerate() {
            let window =
                windows.entry((tenant, app, api, index)).or_insert(Window { start: now, current: 0, previous: 0 });
            roll(window, *length, now);
            let elapsed = now.duration_since(window.start).as_secs_f64() / length.as_secs_f64();
            let estimate = f64::from(window.previous) * (1.0 - elapsed) + f64::from(window.current);
            if estimate + 1.0 > f64::from(*limit) {
                let retry_after = (window.start + *length).saturating_duration_since(now).max(Duration::from_secs(1));
                return Err(Exceeded { limit: *limit, per: *length, retry_after });
            }
            slots[index] = Some((tenant, app, api, index));
        }
        for key in slots.into_iter().flatten() {
            if let Some(window) = windows.get_mut(&key) {
                window.current += 1;
            }
        }
        Ok(())
    }
}

fn roll(window: &mut Window, length: Duration, now: Instant) {
    let since = now.duration_since(window.start);
    if since >= length * 2 {
        *window = Window { start: now, current: 0, previous: 0 };
    } else if since >= length {
        *window = Window { start: window.start + length, current: 0, previous: window.current };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> (TenantId, AppId) {
        (TenantId::from_uuid(uuid::Uuid::from_u128(1)), AppId::from_uuid(uuid::Uuid::from_u128(2)))
    }

    #[test]
    fn the_fifty_first_list_call_in_a_minute_is_refused_until_the_window_moves() {
        let quotas = Quotas::new(QuotaLimits::default());
        let (tenant, app) = ids();
        let start = Instant::now();
        for _ in 0..50 {
            assert!(quotas.check(tenant, app, Api::ListIncidents, start).is_ok());
        }
        let refused = quotas.check(tenant, app, Api::ListIncidents, start).unwrap_err();
        assert_eq!((refused.limit, refused.per), (50, Duration::from_secs(60)));
        assert!(refused.retry_after <= Duration::from_secs(60));
        assert!(quotas.check(tenant, app, Api::GetIncident, start).is_ok(), "each API has its own budget");
        assert!(quotas.check(tenant, app, Api::ListIncidents, start + Duration::from_secs(121)).is_ok());
    }

    #[test]
    fn quotas_can_be_switched_off() {
        let quotas = Quotas::new(QuotaLimits { enabled: false, ..QuotaLimits::default() });
        let (tenant, app) = ids();
        let now = Instant::now();
        for _ in 0..1000 {
            assert!(quotas.check(tenant, app, Api::UpdateIncident, now).is_ok());
        }
    }
}
