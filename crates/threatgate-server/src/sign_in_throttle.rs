//! Portal sign-in throttling: failed sign-ins counted per account and address and per address
//! (the audit's finding 9). Per node.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed sign-ins are limited per account and address (5 per 15 minutes) and per address (20
/// per 15 minutes); past that, sign-in from that address is refused without checking the
/// password. Someone who knows an administrator's user name can thus block only their own
/// addresses, never the owner's sign-in from another one; guessing a password from many
/// addresses meets the slow password hash and 20 guesses per address per window.
///
/// The table holds at most [`MAX_THROTTLE_KEYS`] keys: past that, expired ones are dropped, and
/// if it is still full new keys are not added (the existing ones go on counting), so no
/// number of invented user names grows the memory.
#[derive(Debug, Default)]
pub struct SignInThrottle {
    failures: Mutex<Failures>,
}

#[derive(Debug, Default)]
struct Failures {
    times: HashMap<ThrottleKey, VecDeque<Instant>>,
    /// When expired keys were last dropped (at most every [`PRUNE_INTERVAL`] when full).
    pruned_at: Option<Instant>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum ThrottleKey {
    AccountAtAddress(String, IpAddr),
    Address(IpAddr),
}

const WINDOW: Duration = Duration::from_secs(15 * 60);
const PER_ACCOUNT_AND_ADDRESS: usize = 5;
const PER_ADDRESS: usize = 20;
const MAX_THROTTLE_KEYS: usize = 100_000;
const PRUNE_INTERVAL: Duration = Duration::from_secs(10);

impl SignInThrottle {
    /// Seconds to wait, if either key has spent its failures.
    pub fn blocked(&self, account: &str, address: IpAddr, now: Instant) -> Option<u64> {
        let mut failures = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut wait = None;
        for (key, limit) in [
            (ThrottleKey::AccountAtAddress(account.to_owned(), address), PER_ACCOUNT_AND_ADDRESS),
            (ThrottleKey::Address(address), PER_ADDRESS),
        ] {
            if let Some(times) = failures.times.get_mut(&key) {
                while times.front().is_some_and(|t| now.duration_since(*t) > WINDOW) {
                    times.pop_front();
                }
                if times.len() >= limit {
                    let oldest = times.front().copied().unwrap_or(now);
                    let left = WINDOW.saturating_sub(now.duration_since(oldest)).as_secs().max(1);
                    wait = Some(wait.map_or(left, |w: u64| w.max(left)));
                }
            }
        }
        wait
    }

    pub fn record_failure(&self, account: &str, address: IpAddr, now: Instant) {
        let mut failures = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let due = failures.pruned_at.is_none_or(|at| now.saturating_duration_since(at) >= PRUNE_INTERVAL);
        if failures.times.len() + 2 > MAX_THROTTLE_KEYS && due {
            failures.times.retain(|_, times| times.back().is_some_and(|t| now.saturating_duration_since(*t) <= WINDOW));
            failures.pruned_at = Some(now);
        }
        for key in [ThrottleKey::AccountAtAddress(account.to_owned(), address), ThrottleKey::Address(address)] {
            let full = failures.times.len() >= MAX_THROTTLE_KEYS;
            match failures.times.get_mut(&key) {
                Some(times) => times.push_back(now),
                None if !full => {
                    failures.times.insert(key, VecDeque::from([now]));
                }
                None => {}
            }
        }
    }

    /// A correct password from `address` clears that address's failures for the account.
    pub fn record_success(&self, account: &str, address: IpAddr) {
        let mut failures = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        failures.times.remove(&ThrottleKey::AccountAtAddress(account.to_owned(), address));
    }

    #[cfg(test)]
    fn keys(&self) -> usize {
        self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner).times.len()
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    use std::time::{Duration, Instant};

    use super::{MAX_THROTTLE_KEYS, SignInThrottle};

    const ATTACKER: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7));
    const OWNER: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));

    #[test]
    fn failures_from_one_address_do_not_lock_the_account_elsewhere() {
        let throttle = SignInThrottle::default();
        let now = Instant::now();
        for _ in 0..5 {
            assert_eq!(throttle.blocked("admin@x", ATTACKER, now), None);
            throttle.record_failure("admin@x", ATTACKER, now);
        }
        assert_eq!(throttle.blocked("admin@x", ATTACKER, now), Some(15 * 60), "the attacker waits");
        assert_eq!(throttle.blocked("admin@x", OWNER, now), None, "the owner signs in from elsewhere");
        assert_eq!(throttle.blocked("other@x", ATTACKER, now), None, "another account from that address");
        assert_eq!(throttle.blocked("admin@x", ATTACKER, now + Duration::from_secs(15 * 60 + 1)), None);
    }

    #[test]
    fn one_address_guessing_many_accounts_is_stopped() {
        let throttle = SignInThrottle::default();
        let now = Instant::now();
        for i in 0..20 {
            throttle.record_failure(&format!("user{i}@x"), ATTACKER, now);
        }
        assert!(throttle.blocked("user99@x", ATTACKER, now).is_some());
        assert_eq!(throttle.blocked("user99@x", OWNER, now), None);
    }

    #[test]
    fn a_correct_password_clears_only_its_own_address() {
        let throttle = SignInThrottle::default();
        let now = Instant::now();
        for _ in 0..4 {
            throttle.record_failure("admin@x", ATTACKER, now);
            throttle.record_failure("admin@x", OWNER, now);
        }
        throttle.record_success("admin@x", OWNER);
        throttle.record_failure("admin@x", ATTACKER, now);
        throttle.record_failure("admin@x", OWNER, now);
        assert!(throttle.blocked("admin@x", ATTACKER, now).is_some());
        assert_eq!(throttle.blocked("admin@x", OWNER, now), None);
    }

    #[test]
    fn invented_user_names_do_not_grow_the_table_without_bound() {
        let throttle = SignInThrottle::default();
        let now = Instant::now();
        for i in 0..MAX_THROTTLE_KEYS as u32 {
            let address = IpAddr::V6(Ipv6Addr::from(u128::from(i)));
            throttle.record_failure(&format!("u{i}"), address, now);
        }
        assert!(throttle.keys() <= MAX_THROTTLE_KEYS);
        // Once they have expired, new keys are taken again.
        let later = now + Duration::from_secs(15 * 60 + 1);
        throttle.record_failure("admin@x", ATTACKER, later);
        assert_eq!(throttle.keys(), 2);
    }
}
