//! Token requests per client and per address (the audit's finding 10): each a GCRA budget of
//! so many requests a minute, any of which may come at once. A client past its budget gets
//! AADSTS90055 with 429 and `Retry-After`: Microsoft answers throttled client-credentials requests
//! with 429 and `Retry-After` (MSAL.NET wiki, "Client throttling"); the code is our choice
//! (ARCHITECTURE.md, "Limits"); MSAL and azure-identity wait that long before asking again.
//!
//! Counted per node: behind several nodes a client may get up to the budget from each.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};
use threatgate_domain::AppId;
use threatgate_identity::AadError;

/// `[token_endpoint]` in the configuration file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenEndpointSettings {
    /// Token requests one application (`client_id`) may make a minute, any of them at once;
    /// 0 turns the limit off. A partner fetching a token for each of 500 customers at start-up
    /// fits the default.
    pub per_client_per_minute: u32,
    /// Token requests one client address may make a minute; 0 turns the limit off.
    pub per_address_per_minute: u32,
    /// A client assertion whose `exp` is further than this from now is refused (AADSTS50027).
    /// Microsoft recommends 5 to 10 minutes; azure-identity's async client sends 30.
    pub max_assertion_lifetime_seconds: u32,
}

impl Default for TokenEndpointSettings {
    fn default() -> Self {
        Self {
            per_client_per_minute: 1_200,
            per_address_per_minute: 1_200,
            max_assertion_lifetime_seconds: u32::try_from(
                threatgate_identity::DEFAULT_MAX_ASSERTION_LIFETIME.whole_seconds(),
            )
            .unwrap_or(3600),
        }
    }
}

#[derive(Debug)]
pub struct TokenThrottle {
    per_client: Option<DefaultKeyedRateLimiter<AppId>>,
    per_address: Option<DefaultKeyedRateLimiter<IpAddr>>,
    clock: DefaultClock,
}

fn limiter<K: std::hash::Hash + Eq + Clone>(per_minute: u32) -> Option<DefaultKeyedRateLimiter<K>> {
    NonZeroU32::new(per_minute).map(|n| RateLimiter::keyed(Quota::per_minute(n)))
}

impl TokenThrottle {
    pub fn new(settings: &TokenEndpointSettings) -> Self {
        Self {
            per_client: limiter(settings.per_client_per_minute),
            per_address: limiter(settings.per_address_per_minute),
            clock: DefaultClock::default(),
        }
    }

    /// Counts a request from `address` naming `client_id` (when it is an application id), or
    /// refuses it. The address is counted first, so a client inventing application ids still
    /// meets its address's budget.
    pub fn check(&self, client_id: Option<&str>, address: Option<IpAddr>) -> Result<(), AadError> {
        let refused = |source_of_requests, wait: Duration| AadError::Throttled {
            source_of_requests,
            retry_after_seconds: wait.as_secs().saturating_add(1),
        };
        if let (Some(limiter), Some(address)) = (&self.per_address, address) {
            limiter
                .check_key(&address)
                .map_err(|until| refused("this address", until.wait_time_from(self.clock.now())))?;
        }
        if let (Some(limiter), Some(app)) = (&self.per_client, client_id.and_then(AppId::parse)) {
            limiter.check_key(&app).map_err(|until| refused("this client", until.wait_time_from(self.clock.now())))?;
        }
        Ok(())
    }

    /// Forgets clients and addresses whose budgets are full again (run every minute or so),
    /// so that the tables hold only recent callers.
    pub fn forget_idle(&self) {
        for limiter in self.per_client.iter() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        for limiter in self.per_address.iter() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.per_client.as_ref().map_or(0, |l| l.len()) + self.per_address.as_ref().map_or(0, |l| l.len())
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    const CLIENT: &str = "2a0b6b2d-5c8f-4e55-9a44-6c2b4a1f0e11";
    const OTHER: &str = "7f1d3c2b-1111-4222-8333-944455556666";
    const HERE: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    const THERE: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));

    fn settings(per_client: u32, per_address: u32) -> TokenEndpointSettings {
        TokenEndpointSettings {
            per_client_per_minute: per_client,
            per_address_per_minute: per_address,
            ..TokenEndpointSettings::default()
        }
    }

    #[test]
    fn a_client_past_its_budget_is_told_when_to_come_back() {
        let throttle = TokenThrottle::new(&settings(3, 100));
        for _ in 0..3 {
            throttle.check(Some(CLIENT), Some(HERE)).unwrap();
        }
        let Err(AadError::Throttled { source_of_requests, retry_after_seconds }) =
            throttle.check(Some(CLIENT), Some(THERE))
        else {
            panic!("the fourth request in a minute is refused, from any address");
        };
        assert_eq!(source_of_requests, "this client");
        assert!((1..=21).contains(&retry_after_seconds), "one request's share of the minute: {retry_after_seconds}");
        throttle.check(Some(OTHER), Some(HERE)).unwrap();
    }

    #[test]
    fn an_address_past_its_budget_is_refused_whatever_client_it_names() {
        let throttle = TokenThrottle::new(&settings(100, 3));
        throttle.check(Some(CLIENT), Some(HERE)).unwrap();
        throttle.check(Some("not-a-guid"), Some(HERE)).unwrap();
        throttle.check(None, Some(HERE)).unwrap();
        let refused = throttle.check(Some(OTHER), Some(HERE)).unwrap_err();
        assert!(matches!(refused, AadError::Throttled { source_of_requests: "this address", .. }));
        throttle.check(Some(OTHER), Some(THERE)).unwrap();
    }

    #[test]
    fn zero_turns_a_limit_off_and_idle_callers_are_forgotten() {
        let throttle = TokenThrottle::new(&settings(0, 0));
        for _ in 0..10_000 {
            throttle.check(Some(CLIENT), Some(HERE)).unwrap();
        }
        let throttle = TokenThrottle::new(&settings(1_000, 1_000));
        throttle.check(Some(CLIENT), Some(HERE)).unwrap();
        assert_eq!(throttle.len(), 2);
        std::thread::sleep(Duration::from_millis(250));
        throttle.forget_idle();
        assert_eq!(throttle.len(), 0, "a budget of 1,000 a minute refills one request in 60 ms (kept for one more)");
    }
}
