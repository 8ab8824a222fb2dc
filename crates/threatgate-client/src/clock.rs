//! Time, injected: the token cache asks the clock what time it is, and the retry loop asks it
//! to wait, so tests can move time without waiting.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

use time::OffsetDateTime;

/// A source of the current time and of waiting.
pub trait Clock: Send + Sync + std::fmt::Debug + 'static {
    fn now(&self) -> OffsetDateTime;
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// A clock that moves only when told, or when something sleeps on it (the sleep returns at
/// once and moves the clock by its duration). Every sleep is recorded.
#[derive(Debug)]
pub struct ManualClock {
    state: Mutex<(OffsetDateTime, Vec<Duration>)>,
}

impl ManualClock {
    pub fn new(start: OffsetDateTime) -> Self {
        Self { state: Mutex::new((start, Vec::new())) }
    }

    pub fn advance(&self, by: Duration) {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        state.0 += by;
    }

    /// Every sleep asked of this clock, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner).1.clone()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner).0
    }

    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        state.0 += duration;
        state.1.push(duration);
        Box::pin(std::future::ready(()))
    }
}
