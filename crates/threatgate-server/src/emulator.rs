//! The emulator's controls, for testing connectors against failures Microsoft's service cannot
//! be made to produce on demand: injected faults (429 with a chosen `Retry-After`, 5xx in the
//! service's body shapes, 401, added latency, dropped connections, AADSTS errors from the token
//! endpoint) for the next N matching calls, a percentage of them or all, matched by tenant,
//! application and route; and per-application token lifetimes (down to 60 s).
//!
//! Off by default (`[emulator] enabled`, `demo --emulator`). When on, rules come from the
//! configuration and from the admin endpoint `/_threatgate/emulator/…`, which takes the key the
//! server writes to `DATA_DIR/emulator.json` (owner-only) as a bearer token and answers loopback
//! peers only unless `allow_remote`. The `threatgate emulator` commands call it. This module
//! holds the rules; `routes::emulator` applies them to HTTP calls and serves the endpoint. Rules and
//! lifetimes live in this node's memory: they are test controls, not data.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use aws_lc_rs::constant_time::verify_slices_are_equal;
use axum::http::{HeaderMap, StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::json;
use threatgate_domain::AppId;

/// `[emulator]`: whether the controls are on, and what they start with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct EmulatorSettings {
    /// The controls and their admin endpoint exist at all.
    pub enabled: bool,
    /// The admin endpoint answers peers other than loopback (it still needs the key).
    pub allow_remote: bool,
    /// Faults in force from the start (`[[emulator.faults]]`).
    pub faults: Vec<FaultSpec>,
    /// Token lifetimes in seconds by application (client) id, 60 to 86,400.
    pub token_lifetimes: BTreeMap<String, i64>,
}

/// What a fault does and to which calls. Every matcher given must match; at least one effect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct FaultSpec {
    /// The tenant id (GUID) of the call (a token's `tid`; the token endpoint's path segment,
    /// which may also be a domain).
    pub tenant: Option<String>,
    /// The application (client) id of the call (a token's `appid`; a token request's
    /// `client_id`).
    pub app: Option<String>,
    /// `token` for the token endpoints, else a path prefix such as `/api/incidents`,
    /// `/api/advancedhunting` or `/v1.0/security`. Unset: every API, Graph and token call.
    pub route: Option<String>,
    /// The answer: 401, 429, 500, 503 or 504 (the token endpoint: 429, 500, 503 or 504).
    pub status: Option<u16>,
    /// `Retry-After` of a 429 or 503, in seconds (default 5 for 429).
    pub retry_after: Option<u64>,
    /// An AADSTS error from the token endpoint: 7000222 (expired secret), 7000215 (wrong
    /// secret), 700016 (application not found), 90055 (throttled), 50000 (server error).
    pub aadsts: Option<u32>,
    /// Added before the answer (alone: the call is then served as usual), at most 120,000.
    pub latency_ms: Option<u64>,
    /// The connection is closed without an answer.
    pub drop: bool,
    /// Only the next `count` matching calls; then the rule is gone.
    pub count: Option<u64>,
    /// Only this percentage of matching calls (1 to 100), at random.
    pub percent: Option<u8>,
}

const API_STATUSES: [u16; 5] = [401, 429, 500, 503, 504];
const TOKEN_STATUSES: [u16; 4] = [429, 500, 503, 504];
const AADSTS_CODES: [u32; 5] = [7000222, 7000215, 700016, 90055, 50000];
const MAX_LATENCY_MS: u64 = 120_000;
const MAX_RULES: usize = 1_000;

impl FaultSpec {
    fn is_token_route(&self) -> bool {
        self.route.as_deref() == Some("token")
    }

    /// Refuses a rule that cannot act as written, saying why.
    pub fn check(&self) -> Result<(), String> {
        for (name, value) in [("tenant", &self.tenant), ("app", &self.app), ("route", &self.route)] {
            if value.as_ref().is_some_and(|v| v.is_empty() || v.len() > 200) {
                return Err(format!("{name} must be 1 to 200 characters"));
            }
        }
        if let Some(route) = &self.route
            && route != "token"
            && !route.starts_with('/')
        {
            return Err(format!("route must be 'token' or a path starting with '/', not '{route}'"));
        }
        let effects = [self.status.is_some(), self.aadsts.is_some(), self.drop].iter().filter(|on| **on).count();
        if effects > 1 {
            return Err("give one of status, aadsts and drop (latency may go with any)".into());
        }
        if effects == 0 && self.latency_ms.is_none() {
            return Err("give an effect: status, aadsts, drop or latency_ms".into());
        }
        if let Some(status) = self.status {
            let allowed: &[u16] = if self.is_token_route() { &TOKEN_STATUSES } else { &API_STATUSES };
            if !allowed.contains(&status) {
                return Err(format!("status must be one of {allowed:?} here, not {status}"));
            }
        }
        if self.retry_after.is_some() && !matches!(self.status, Some(429 | 503)) && self.aadsts != Some(90055) {
            return Err("retry_after goes with status 429 or 503, or aadsts 90055".into());
        }
        if let Some(code) = self.aadsts {
            if !AADSTS_CODES.contains(&code) {
                return Err(format!("aadsts must be one of {AADSTS_CODES:?}, not {code}"));
            }
            if !self.is_token_route() {
                return Err("an aadsts fault needs route = \"token\"".into());
            }
        }
        if self.latency_ms.is_some_and(|ms| ms > MAX_LATENCY_MS) {
            return Err(format!("latency_ms is at most {MAX_LATENCY_MS}"));
        }
        if self.count == Some(0) {
            return Err("count must be at least 1".into());
        }
        if self.percent.is_some_and(|p| !(1..=100).contains(&p)) {
            return Err("percent must be 1 to 100".into());
        }
        if self.count.is_some() && self.percent.is_some() {
            return Err("give count or percent, not both".into());
        }
        Ok(())
    }

    fn matches(&self, call: &Call<'_>) -> bool {
        let same = |want: &Option<String>, got: Option<&str>| {
            want.as_deref().is_none_or(|want| got.is_some_and(|got| got.eq_ignore_ascii_case(want)))
        };
        let route = match (&self.route, call.path) {
            (None, _) => true,
            (Some(route), None) => route == "token",
            (Some(route), Some(path)) => route != "token" && path.starts_with(route.as_str()),
        };
        route && same(&self.tenant, call.tenant) && same(&self.app, call.app)
    }
}

/// A call as faults see it: its path (`None` for the token endpoints), tenant and application.
#[derive(Debug)]
pub struct Call<'a> {
    pub path: Option<&'a str>,
    pub tenant: Option<&'a str>,
    pub app: Option<&'a str>,
}

/// A rule in force, as the admin endpoint shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Rule {
    pub id: u64,
    #[serde(flatten)]
    pub spec: FaultSpec,
    /// How many calls it has acted on.
    pub hits: u64,
}

/// The faults in force and the admin endpoint's key.
#[derive(Debug, Default)]
pub struct Emulator {
    key: String,
    rules: Mutex<Vec<Rule>>,
    /// The configuration: whether the controls are on (and answer other peers), and the faults
    /// and token lifetimes they start with, which a reset restores.
    initial: EmulatorSettings,
    /// Whether any rule is in force: the common case (none) costs one load per call.
    armed: AtomicBool,
    next_id: AtomicU64,
}

impl Emulator {
    /// The controls of `settings`; when enabled, a fresh admin key is written with the server's
    /// URL and CA to `data_dir/emulator.json`.
    pub fn start(
        settings: &EmulatorSettings,
        data_dir: &Path,
        public_url: &str,
        ca_certificate: Option<&Path>,
    ) -> Result<Self, String> {
        let emulator = Self { initial: settings.clone(), ..Self::default() };
        if !settings.enabled {
            return Ok(emulator);
        }
        let mut bytes = [0u8; 32];
        aws_lc_rs::rand::fill(&mut bytes).map_err(|_| "no randomness for the emulator's key".to_owned())?;
        let emulator = Self { key: URL_SAFE_NO_PAD.encode(bytes), ..emulator };
        for spec in &settings.faults {
            emulator.add(spec.clone()).map_err(|why| format!("[[emulator.faults]]: {why}"))?;
        }
        let file = json!({"url": public_url, "ca_certificate": ca_certificate, "key": emulator.key});
        write_private(&data_dir.join("emulator.json"), file.to_string().as_bytes())
            .map_err(|error| format!("emulator.json cannot be written: {error}"))?;
        Ok(emulator)
    }

    pub fn enabled(&self) -> bool {
        self.initial.enabled
    }

    pub fn add(&self, spec: FaultSpec) -> Result<Rule, String> {
        spec.check()?;
        let mut rules = self.rules.lock().unwrap_or_else(PoisonError::into_inner);
        if rules.len() >= MAX_RULES {
            return Err(format!("at most {MAX_RULES} faults at once"));
        }
        let rule = Rule { id: self.next_id.fetch_add(1, Ordering::Relaxed) + 1, spec, hits: 0 };
        rules.push(rule.clone());
        self.armed.store(true, Ordering::Release);
        Ok(rule)
    }

    /// The faults and token lifetimes of the configuration.
    pub fn initial(&self) -> &EmulatorSettings {
        &self.initial
    }

    /// Back to the configuration's faults (a reset): every other rule goes.
    pub fn restore_initial_rules(&self) -> Result<(), String> {
        self.remove(None);
        for spec in &self.initial.faults {
            self.add(spec.clone())?;
        }
        Ok(())
    }

    pub fn list(&self) -> Vec<Rule> {
        self.rules.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Removes rule `id` (every rule with `None`); how many went.
    pub fn remove(&self, id: Option<u64>) -> usize {
        let mut rules = self.rules.lock().unwrap_or_else(PoisonError::into_inner);
        let before = rules.len();
        rules.retain(|rule| id.is_some_and(|id| rule.id != id));
        self.armed.store(!rules.is_empty(), Ordering::Release);
        before - rules.len()
    }

    /// The fault for `call`, if a rule takes it: the first matching rule in order of addition,
    /// counted (and gone after its `count`th call).
    pub fn take(&self, call: &Call<'_>) -> Option<FaultSpec> {
        if !self.armed.load(Ordering::Acquire) {
            return None;
        }
        let mut rules = self.rules.lock().unwrap_or_else(PoisonError::into_inner);
        let index = rules.iter().position(|rule| {
            rule.spec.matches(call) && rule.spec.percent.is_none_or(|percent| random_percent() < percent)
        })?;
        let rule = &mut rules[index];
        rule.hits += 1;
        let spec = rule.spec.clone();
        if rule.spec.count.is_some_and(|count| rule.hits >= count) {
            rules.remove(index);
            self.armed.store(!rules.is_empty(), Ordering::Release);
        }
        Some(spec)
    }

    /// Whether an admin call may act: from loopback (unless `allow_remote`) and with the key as
    /// its bearer token (compared in constant time); else the status and reason to refuse it.
    pub fn authorize(&self, headers: &HeaderMap, peer: Option<SocketAddr>) -> Result<(), (StatusCode, &'static str)> {
        if !self.initial.allow_remote && !peer.is_some_and(|peer| peer.ip().is_loopback()) {
            return Err((StatusCode::FORBIDDEN, "the emulator's controls answer loopback only (allow_remote)"));
        }
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .unwrap_or_default();
        if self.key.is_empty() || verify_slices_are_equal(given.as_bytes(), self.key.as_bytes()).is_err() {
            return Err((StatusCode::UNAUTHORIZED, "send the key of DATA_DIR/emulator.json as a bearer token"));
        }
        Ok(())
    }

    /// Whether any rule is in force (one atomic load).
    pub fn armed(&self) -> bool {
        self.armed.load(Ordering::Acquire)
    }
}

/// 0 to 99, uniformly.
fn random_percent() -> u8 {
    let mut byte = [0u8; 2];
    let _ = aws_lc_rs::rand::fill(&mut byte);
    (u16::from_le_bytes(byte) % 100) as u8
}

fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(contents)
}

/// The configuration's token lifetimes, applied at start.
pub fn apply_token_lifetimes(
    settings: &EmulatorSettings,
    identity: &threatgate_identity::IdentityService,
) -> Result<(), String> {
    for (app, seconds) in &settings.token_lifetimes {
        let id = AppId::parse(app).ok_or_else(|| format!("[emulator.token_lifetimes]: '{app}' is not a GUID"))?;
        identity
            .set_token_lifetime(id, Some(time::Duration::seconds(*seconds)))
            .map_err(|why| format!("[emulator.token_lifetimes] {app}: {why}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> FaultSpec {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn rules_are_checked_before_they_act() {
        assert!(spec(r#"{"status": 429, "retry_after": 3, "count": 2}"#).check().is_ok());
        assert!(spec(r#"{"route": "token", "aadsts": 7000222}"#).check().is_ok());
        assert!(spec(r#"{"latency_ms": 200}"#).check().is_ok());
        for bad in [
            r#"{}"#,
            r#"{"status": 418}"#,
            r#"{"status": 401, "route": "token"}"#,
            r#"{"aadsts": 7000222}"#,
            r#"{"route": "token", "aadsts": 1}"#,
            r#"{"status": 500, "drop": true}"#,
            r#"{"status": 500, "retry_after": 3}"#,
            r#"{"status": 429, "count": 0}"#,
            r#"{"status": 429, "percent": 101}"#,
            r#"{"status": 429, "count": 1, "percent": 50}"#,
            r#"{"latency_ms": 1000000}"#,
            r#"{"route": "api", "status": 500}"#,
        ] {
            assert!(spec(bad).check().is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<FaultSpec>(r#"{"stauts": 429}"#).is_err(), "unknown keys are refused");
    }

    #[test]
    fn rules_are_bounded_and_a_reset_brings_back_the_configured_ones() {
        let configured = spec(r#"{"route": "/api/incidents", "status": 503, "percent": 5}"#);
        let emulator = Emulator {
            initial: EmulatorSettings {
                enabled: true,
                faults: vec![configured.clone()],
                ..EmulatorSettings::default()
            },
            ..Emulator::default()
        };
        for _ in 0..MAX_RULES {
            emulator.add(spec(r#"{"status": 429}"#)).unwrap();
        }
        assert_eq!(emulator.add(spec(r#"{"status": 429}"#)).unwrap_err(), "at most 1000 faults at once");
        emulator.restore_initial_rules().unwrap();
        let rules = emulator.list();
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].spec, configured);
        assert!(emulator.armed());
    }

    #[test]
    fn a_counted_rule_acts_on_matching_calls_then_goes() {
        let emulator = Emulator {
            initial: EmulatorSettings { enabled: true, ..EmulatorSettings::default() },
            ..Emulator::default()
        };
        emulator
            .add(spec(r#"{"tenant": "T1", "route": "/api/incidents", "status": 503, "retry_after": 2, "count": 2}"#))
            .unwrap();
        let call = |path: Option<&'static str>, tenant: &'static str| Call { path, tenant: Some(tenant), app: None };
        assert!(emulator.take(&call(Some("/api/advancedhunting/run"), "t1")).is_none(), "another route");
        assert!(emulator.take(&call(Some("/api/incidents"), "t2")).is_none(), "another tenant");
        assert!(emulator.take(&call(None, "t1")).is_none(), "the token endpoint");
        assert_eq!(emulator.take(&call(Some("/api/incidents/7"), "t1")).and_then(|f| f.status), Some(503));
        assert!(emulator.take(&call(Some("/api/incidents"), "T1")).is_some());
        assert!(emulator.take(&call(Some("/api/incidents"), "t1")).is_none(), "two calls, then gone");
        assert!(emulator.list().is_empty());
    }

    #[test]
    fn a_percentage_acts_on_about_that_share_of_calls() {
        let emulator = Emulator {
            initial: EmulatorSettings { enabled: true, ..EmulatorSettings::default() },
            ..Emulator::default()
        };
        emulator.add(spec(r#"{"status": 500, "percent": 30}"#)).unwrap();
        let call = Call { path: Some("/api/incidents"), tenant: None, app: None };
        let hits = (0..10_000).filter(|_| emulator.take(&call).is_some()).count();
        assert!((2_500..3_500).contains(&hits), "{hits} of 10,000");
        assert_eq!(emulator.remove(None), 1);
    }
}
