//! Fair shares of advanced hunting: at most `per_tenant` queries of one tenant run at once, and
//! at most `total` of all tenants (no more than the store has connections for, so a query never
//! waits for a connection and never fails for waiting). A tenant past its share is told to retry
//! at once (429); a query finding every place taken waits a few seconds, then is told the same.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use threatgate_domain::TenantId;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long a query waits for a place held by other tenants' queries.
const WAIT_FOR_PLACE: Duration = Duration::from_secs(5);
/// What a refused caller is told to wait.
pub const RETRY_AFTER_SECONDS: u64 = 5;

#[derive(Debug)]
pub struct HuntGate {
    places: Arc<Semaphore>,
    total: usize,
    per_tenant: usize,
    /// How long a query waits for a place held by other tenants' queries.
    wait: Duration,
    running: Arc<Mutex<HashMap<TenantId, usize>>>,
}

/// Why a query may not start now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HuntBusy {
    /// The tenant already runs its share.
    Tenant { limit: usize },
    /// Every place is taken by other queries.
    Server,
}

/// A running query's place; given back when dropped.
#[derive(Debug)]
pub struct HuntPlace {
    _place: OwnedSemaphorePermit,
    tenant: TenantId,
    running: Arc<Mutex<HashMap<TenantId, usize>>>,
}

impl HuntGate {
    pub fn new(total: usize, per_tenant: usize) -> Self {
        Self::waiting(total, per_tenant, WAIT_FOR_PLACE)
    }

    fn waiting(total: usize, per_tenant: usize, wait: Duration) -> Self {
        let total = total.max(1);
        Self {
            places: Arc::new(Semaphore::new(total)),
            total,
            per_tenant: per_tenant.clamp(1, total),
            wait,
            running: Arc::default(),
        }
    }

    /// A place for one of `tenant`'s queries, or why there is none.
    pub async fn enter(&self, tenant: TenantId) -> Result<HuntPlace, HuntBusy> {
        {
            let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
            let count = running.entry(tenant).or_default();
            if *count >= self.per_tenant {
                return Err(HuntBusy::Tenant { limit: self.per_tenant });
            }
            // Counted before waiting, so that one tenant cannot queue more than its share.
            *count += 1;
        }
        let leave = || {
            let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
            release(&mut running, tenant);
        };
        match tokio::time::timeout(self.wait, self.places.clone().acquire_owned()).await {
            Ok(Ok(place)) => Ok(HuntPlace { _place: place, tenant, running: self.running.clone() }),
            Ok(Err(_)) | Err(_) => {
                leave();
                Err(HuntBusy::Server)
            }
        }
    }

    /// How many queries may run at once in all.
    pub fn total(&self) -> usize {
        self.total
    }
}

fn release(running: &mut HashMap<TenantId, usize>, tenant: TenantId) {
    if let Some(count) = running.get_mut(&tenant) {
        *count = count.saturating_sub(1);
        if *count == 0 {
            running.remove(&tenant);
        }
    }
}

impl Drop for HuntPlace {
    fn drop(&mut self) {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        release(&mut running, self.tenant);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(n: u128) -> TenantId {
        TenantId::from_uuid(uuid::Uuid::from_u128(n))
    }

    #[tokio::test]
    async fn a_tenant_past_its_share_is_refused_while_others_still_run() {
        let gate = HuntGate::new(4, 2);
        let a1 = gate.enter(tenant(1)).await.expect("first");
        let _a2 = gate.enter(tenant(1)).await.expect("second");
        assert_eq!(gate.enter(tenant(1)).await.err(), Some(HuntBusy::Tenant { limit: 2 }));
        let _b = gate.enter(tenant(2)).await.expect("another tenant has room");
        drop(a1);
        let _a3 = gate.enter(tenant(1)).await.expect("a place given back is free again");
    }

    #[tokio::test]
    async fn a_full_server_refuses_after_a_short_wait_and_frees_the_tenants_count() {
        let gate = HuntGate::waiting(2, 2, Duration::from_millis(20));
        let _a = gate.enter(tenant(1)).await.expect("a");
        let _b = gate.enter(tenant(2)).await.expect("b");
        assert_eq!(gate.enter(tenant(3)).await.err(), Some(HuntBusy::Server));
        assert!(gate.running.lock().expect("lock").get(&tenant(3)).is_none());
    }
}
