//! HTTP with the retries a partner's poll needs: a 429 waits for `Retry-After` (or the time
//! in the body) and tries again; 5xx answers and connection failures back off exponentially
//! with jitter. Everything is bounded by a [`RetryPolicy`].

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::RETRY_AFTER;

use crate::clock::Clock;
use crate::error::{Error, Result, service_error};

/// How hard to try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The first back-off; each later one doubles, up to `max_delay`.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// A 429 asking to wait longer than this fails at once (with the wait in the error).
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        Self { max_attempts: 1, ..Self::default() }
    }

    /// The back-off before attempt `attempt + 1`: half fixed, half random ("equal jitter").
    fn backoff(&self, attempt: u32) -> Duration {
        let exponential = self.base_delay.saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)));
        let capped = exponential.min(self.max_delay);
        capped / 2 + capped.mul_f64(fastrand::f64() / 2.0)
    }
}

/// Whether a request may be repeated after the server may have acted on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Repeat {
    /// Reads and token requests: retry 5xx and failures after sending.
    Safe,
    /// Changes that are not idempotent (an update with a comment appends it): retry only
    /// what certainly did not run (429, connection refused).
    OnlyUnsent,
}

/// A response that succeeded.
#[derive(Debug)]
pub(crate) struct Answer {
    pub body: String,
}

/// The HTTP client all requests go through.
#[derive(Debug, Clone)]
pub(crate) struct Http {
    client: reqwest::Client,
    retry: RetryPolicy,
    clock: Arc<dyn Clock>,
}

impl Http {
    /// System roots, plus `extra_ca` (a PEM file of one or more certificates) when given.
    pub fn new(extra_ca: Option<&Path>, retry: RetryPolicy, clock: Arc<dyn Clock>) -> Result<Self> {
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("threatgate-client/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60));
        if let Some(path) = extra_ca {
            let pem = std::fs::read(path)
                .map_err(|e| Error::Config(format!("cannot read the CA certificate {}: {e}", path.display())))?;
            let certificates = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| Error::Config(format!("{} is not a PEM certificate: {e}", path.display())))?;
            builder = builder.tls_certs_merge(certificates);
        }
        let client = builder.build().map_err(|e| Error::Config(format!("cannot set up HTTPS: {e}")))?;
        Ok(Self { client, retry, clock })
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Sends the request `build` makes (once per attempt) until it succeeds, fails for good,
    /// or the policy's attempts are spent.
    pub async fn send(&self, repeat: Repeat, build: impl Fn() -> reqwest::RequestBuilder) -> Result<Answer> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= self.retry.max_attempts;
            let request = build();
            let url = request.try_clone().and_then(|r| r.build().ok()).map(|r| redacted(r.url())).unwrap_or_default();
            let response = match request.send().await {
                Ok(response) => response,
                Err(error) => {
                    let unsent = error.is_connect();
                    let retryable = unsent || (repeat == Repeat::Safe && (error.is_timeout() || error.is_request()));
                    if retryable && !last {
                        let wait = self.retry.backoff(attempt);
                        tracing::debug!(%url, attempt, ?wait, "request failed; retrying: {error}");
                        self.clock.sleep(wait).await;
                        continue;
                    }
                    return Err(Error::Transport { url, message: error_chain(&error) });
                }
            };
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let body = match response.text().await {
                Ok(body) => body,
                // The connection dropped mid-answer: a safe request is sent again.
                Err(error) if repeat == Repeat::Safe && !last => {
                    let wait = self.retry.backoff(attempt);
                    tracing::debug!(%url, attempt, ?wait, "answer cut off; retrying: {error}");
                    self.clock.sleep(wait).await;
                    continue;
                }
                Err(error) => return Err(Error::Transport { url, message: error_chain(&error) }),
            };
            if (200..300).contains(&status) {
                return Ok(Answer { body });
            }
            let error = service_error(status, &body, retry_after);
            let wait = match status {
                429 => match error.retry_after {
                    Some(wait) if wait > self.retry.max_retry_after => None,
                    Some(wait) => Some(wait),
                    None => Some(self.retry.backoff(attempt)),
                },
                500 | 502 | 503 | 504 if repeat == Repeat::Safe => {
                    Some(error.retry_after.unwrap_or_else(|| self.retry.backoff(attempt)))
                }
                _ => None,
            };
            match wait {
                Some(wait) if !last => {
                    tracing::debug!(%url, attempt, status, ?wait, "retrying after {}", error.code);
                    self.clock.sleep(wait).await;
                }
                _ => return Err(Error::Service(error)),
            }
        }
    }
}

/// The URL without its query (which may hold a filter, never a secret, but keep logs short).
fn redacted(url: &reqwest::Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.to_string()
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_is_capped_and_jittered() {
        let policy = RetryPolicy::default();
        for attempt in 1..10 {
            let wait = policy.backoff(attempt);
            let full = (policy.base_delay * 2u32.pow(attempt - 1)).min(policy.max_delay);
            assert!(wait >= full / 2 && wait <= full, "attempt {attempt}: {wait:?} outside {full:?}/2..{full:?}");
        }
    }
}
