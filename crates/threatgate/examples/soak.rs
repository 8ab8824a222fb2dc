//! Soak and overload against a running demo (`bench/soak.sh` starts one and calls this).
//!
//!     soak DEMO_JSON SOURCE_APP_ID SOURCE_SECRET SERVER_PID [SECONDS=600] [RATE=60] [OVERLOAD_SECONDS=60]
//!
//! **Soak**: RATE requests a second, at a fixed pace whatever the answers take, mixed as a
//! partner's connector and a detection source make them: token requests 10 %, incident lists
//! 40 %, incident updates (a comment, an owner or a status, over 100 incidents) 15 %, advanced
//! hunting over the last two minutes 10 %, event ingestion (a batch of 20) 15 %, alert
//! ingestion 10 %. Every 10 s a line: the server's RSS (and its anonymous and file-backed
//! parts) and CPU, requests a second, answers other than 2xx. At the end, per kind: count,
//! p50/p99/p999 and answers by status; CPU time of the server per request.
//!
//! `SOAK_KINDS=Token,List,Hunt` keeps only those kinds (the others' turns are left empty), to
//! tell which one a trend comes from.
//!
//! **Overload**: OVERLOAD_SECONDS of 256 callers listing incidents and hunting without pause,
//! while a probe asks for a token every 100 ms: how the API sheds load (429/503 with
//! `Retry-After`, not an unbounded queue) and whether the token endpoint keeps answering.
#![allow(clippy::expect_used, clippy::unwrap_used, reason = "a benchmark driver: a failed setup ends it")]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use threatgate_proto::DemoManifest;
use tokio::sync::Mutex;

const SCOPE: &str = "https://api.security.microsoft.com/.default";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Token,
    List,
    Update,
    Hunt,
    Events,
    Alerts,
}

/// The mix, in tenths of a percent of the requests.
const MIX: [(Kind, u32); 6] = [
    (Kind::Token, 100),
    (Kind::List, 400),
    (Kind::Update, 150),
    (Kind::Hunt, 100),
    (Kind::Events, 150),
    (Kind::Alerts, 100),
];

#[derive(Default)]
struct Record {
    micros: Vec<u64>,
    statuses: BTreeMap<u16, u64>,
}

struct Setup {
    manifest: DemoManifest,
    client: reqwest::Client,
    tenants: Vec<String>,
    partner_tokens: Vec<String>,
    source_token: String,
    source_tenant: String,
    incidents: Vec<i64>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [manifest_path, source_app, source_secret, pid, rest @ ..] = args.as_slice() else {
        anyhow::bail!(
            "usage: soak DEMO_JSON SOURCE_APP_ID SOURCE_SECRET SERVER_PID [SECONDS] [RATE] [OVERLOAD_SECONDS]"
        );
    };
    let number = |i: usize, default: u64| rest.get(i).and_then(|s| s.parse().ok()).unwrap_or(default);
    let (seconds, rate, overload_seconds) = (number(0, 600), number(1, 60), number(2, 60));
    let pid: u32 = pid.parse()?;
    let manifest: DemoManifest = serde_json::from_slice(&std::fs::read(manifest_path)?)?;
    let client = threatgate_testkit::client_trusting(std::path::Path::new(&manifest.ca_certificate))?;
    let tenants: Vec<String> = manifest.customers.iter().filter(|c| c.consented).map(|c| c.tenant_id.clone()).collect();
    let mut partner_tokens = Vec::new();
    for tenant in &tenants {
        partner_tokens
            .push(token(&client, &manifest, tenant, &manifest.app.app_id, &manifest.app.client_secret).await?.1);
    }
    let source_tenant = tenants[0].clone();
    let source_token = token(&client, &manifest, &source_tenant, source_app, source_secret).await?.1;
    let page: Value = client
        .get(format!("{}/api/incidents?$top=100", manifest.api_base))
        .bearer_auth(&partner_tokens[0])
        .send()
        .await?
        .json()
        .await?;
    let incidents = page["value"].as_array().into_iter().flatten().filter_map(|i| i["incidentId"].as_i64()).collect();
    let setup = Arc::new(Setup { manifest, client, tenants, partner_tokens, source_token, source_tenant, incidents });

    println!("soak: {rate} requests/s for {seconds} s, mix {MIX:?} (tenths of a percent)");
    // RSS in two parts: the heap and other private memory (anonymous), and the database
    // files' pages mapped into the process (SQLite reads through mmap), which the kernel can
    // take back at any time.
    println!(
        "{:>6} {:>9} {:>10} {:>10} {:>8} {:>9} {:>10}",
        "t (s)", "RSS (MiB)", "anon (MiB)", "file (MiB)", "CPU (%)", "req/s", "non-2xx"
    );
    let records: Arc<Mutex<BTreeMap<Kind, Record>>> = Arc::default();
    let sent = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let cpu_at_start = cpu_seconds(pid);
    let mut pace = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut last_report = (Instant::now(), 0_u64, cpu_seconds(pid));
    let kinds: Option<Vec<String>> =
        std::env::var("SOAK_KINDS").ok().map(|kinds| kinds.split(',').map(|k| k.trim().to_owned()).collect());
    let mut n: u64 = 0;
    while started.elapsed() < Duration::from_secs(seconds) {
        pace.tick().await;
        let kind = pick(n);
        n += 1;
        if kinds.as_ref().is_some_and(|kinds| !kinds.contains(&format!("{kind:?}"))) {
            continue;
        }
        let (task_setup, task_records, task_sent, task_failures) =
            (Arc::clone(&setup), Arc::clone(&records), Arc::clone(&sent), Arc::clone(&failures));
        tokio::spawn(async move {
            let begun = Instant::now();
            let status = send(&task_setup, kind, n).await;
            let micros = begun.elapsed().as_micros() as u64;
            task_sent.fetch_add(1, Ordering::Relaxed);
            if !(200..300).contains(&status) {
                task_failures.fetch_add(1, Ordering::Relaxed);
            }
            let mut records = task_records.lock().await;
            let record = records.entry(kind).or_default();
            record.micros.push(micros);
            *record.statuses.entry(status).or_default() += 1;
        });
        if last_report.0.elapsed() >= Duration::from_secs(10) {
            let done = sent.load(Ordering::Relaxed);
            let cpu = cpu_seconds(pid);
            let window = last_report.0.elapsed().as_secs_f64();
            println!(
                "{:>6.0} {:>9.1} {:>10.1} {:>10.1} {:>8.1} {:>9.1} {:>10}",
                started.elapsed().as_secs_f64(),
                rss_mib(pid),
                status_mib(pid, "RssAnon:"),
                status_mib(pid, "RssFile:") + status_mib(pid, "RssShmem:"),
                (cpu - last_report.2) / window * 100.0,
                (done - last_report.1) as f64 / window,
                failures.load(Ordering::Relaxed)
            );
            last_report = (Instant::now(), done, cpu);
        }
    }
    // The pace's own time, for the rates; the CPU until the last answers are in.
    let elapsed = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let cpu = cpu_seconds(pid) - cpu_at_start;
    let records = records.lock().await;
    let total: u64 = records.values().map(|r| r.micros.len() as u64).sum();
    println!(
        "\n{:<8} {:>7} {:>8} {:>9} {:>9} {:>9}  statuses",
        "kind", "count", "req/s", "p50 ms", "p99 ms", "p999 ms"
    );
    for (kind, record) in records.iter() {
        let mut micros = record.micros.clone();
        micros.sort_unstable();
        println!(
            "{:<8} {:>7} {:>8.1} {:>9.1} {:>9.1} {:>9.1}  {:?}",
            format!("{kind:?}"),
            micros.len(),
            micros.len() as f64 / elapsed,
            quantile(&micros, 0.5),
            quantile(&micros, 0.99),
            quantile(&micros, 0.999),
            record.statuses
        );
    }
    println!(
        "all: {total} requests in {elapsed:.0} s ({:.1}/s), server CPU {cpu:.1} s = {:.2} ms per request, RSS at the end {:.1} MiB",
        total as f64 / elapsed,
        cpu * 1000.0 / total.max(1) as f64,
        rss_mib(pid)
    );
    drop(records);
    if overload_seconds > 0 {
        overload(&setup, overload_seconds, pid).await;
    }
    Ok(())
}

/// The `n`th request's kind, spreading each kind evenly over every thousand.
fn pick(n: u64) -> Kind {
    let slot = ((n * 617) % 1000) as u32;
    let mut bound = 0;
    for (kind, share) in MIX {
        bound += share;
        if slot < bound {
            return kind;
        }
    }
    Kind::List
}

async fn send(setup: &Setup, kind: Kind, n: u64) -> u16 {
    let which = (n as usize) % setup.tenants.len();
    let api = &setup.manifest.api_base;
    let now = time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap();
    let request = match kind {
        Kind::Token => {
            let tenant = &setup.tenants[which];
            return match token(&setup.client, &setup.manifest, tenant, &setup.manifest.app.app_id, &setup.manifest.app.client_secret).await {
                Ok((status, _)) => status,
                Err(_) => 0,
            };
        }
        Kind::List => setup
            .client
            .get(format!("{api}/api/incidents?$top=50&$filter=lastUpdateTime ge 2020-01-01T00:00:00Z"))
            .bearer_auth(&setup.partner_tokens[which]),
        Kind::Update => {
            let incident = setup.incidents.get(n as usize % setup.incidents.len().max(1)).copied().unwrap_or(1);
            setup
                .client
                .patch(format!("{api}/api/incidents/{incident}"))
                .bearer_auth(&setup.partner_tokens[0])
                .json(&match n % 3 {
                    // What a connector writes back: a comment, an owner, a status.
                    0 => json!({"comment": format!("soak {n}")}),
                    1 => json!({"assignedTo": format!("analyst{}@contoso.com", n % 7)}),
                    _ => json!({"status": if n.is_multiple_of(2) { "InProgress" } else { "Active" }}),
                })
        }
        Kind::Hunt => setup
            .client
            .post(format!("{api}/api/advancedhunting/run"))
            .bearer_auth(&setup.partner_tokens[which])
            // A connector's look at the last minutes: at a fixed ingestion rate, the same
            // amount of data every time once the soak is two minutes in.
            .json(&json!({"Query": "DeviceProcessEvents | where Timestamp > ago(2m) | summarize count() by DeviceName | top 10 by count_"})),
        Kind::Events => {
            let rows: Vec<Value> = (0..20)
                .map(|k| json!({"Timestamp": now, "DeviceId": format!("soak-{}", n % 50), "DeviceName": format!("soak-{}", (n + k) % 500), "FileName": "soak.exe", "ProcessCommandLine": format!("soak.exe --run {n} --item {k}")}))
                .collect();
            setup.client.post(format!("{api}/api/ingest/events/DeviceProcessEvents")).bearer_auth(&setup.source_token).json(&rows)
        }
        Kind::Alerts => {
            let alert = json!([{
                "alertId": format!("soak-{n}"), "serviceSource": "MicrosoftDefenderATP", "creationTime": now,
                "firstActivity": now, "lastActivity": now, "title": "Soak alert", "category": "Execution",
                "severity": "Low", "detectionSource": "EDR",
                "entities": [{"entityType": "User", "userPrincipalName": format!("user{}@{}", n % 200, setup.source_tenant)}]
            }]);
            setup.client.post(format!("{api}/api/ingest/alerts")).bearer_auth(&setup.source_token).json(&alert)
        }
    };
    match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let _ = response.bytes().await;
            status
        }
        Err(_) => 0,
    }
}

async fn token(
    client: &reqwest::Client,
    manifest: &DemoManifest,
    tenant: &str,
    app: &str,
    secret: &str,
) -> anyhow::Result<(u16, String)> {
    let response = client
        .post(format!("{}/{tenant}/oauth2/v2.0/token", manifest.authority))
        .form(&[("grant_type", "client_credentials"), ("client_id", app), ("scope", SCOPE), ("client_secret", secret)])
        .send()
        .await?;
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or_default();
    Ok((status, body["access_token"].as_str().unwrap_or_default().to_owned()))
}

/// 256 callers without pause (lists and hunts), a token probe every 100 ms.
async fn overload(setup: &Arc<Setup>, seconds: u64, pid: u32) {
    println!(
        "\noverload: 256 callers listing incidents and hunting without pause for {seconds} s; a token request every 100 ms"
    );
    let stop = Arc::new(AtomicBool::new(false));
    let statuses: Arc<Mutex<BTreeMap<(bool, u16), u64>>> = Arc::default();
    let retry_after = Arc::new(AtomicU64::new(0));
    let cpu_at_start = cpu_seconds(pid);
    let mut callers = Vec::new();
    for caller in 0..256_u64 {
        let (setup, stop, statuses, retry_after) =
            (Arc::clone(setup), Arc::clone(&stop), Arc::clone(&statuses), Arc::clone(&retry_after));
        callers.push(tokio::spawn(async move {
            let mut n = caller;
            while !stop.load(Ordering::Relaxed) {
                let hunt = n % 4 == 0;
                let api = &setup.manifest.api_base;
                let token = &setup.partner_tokens[n as usize % setup.partner_tokens.len()];
                let request = if hunt {
                    setup.client.post(format!("{api}/api/advancedhunting/run")).bearer_auth(token).json(
                        &json!({"Query": "DeviceProcessEvents | summarize count() by DeviceName, FileName | top 100 by count_"}),
                    )
                } else {
                    setup.client.get(format!("{api}/api/incidents?$top=100")).bearer_auth(token)
                };
                let status = match request.send().await {
                    Ok(response) => {
                        if response.headers().contains_key("retry-after") {
                            retry_after.fetch_add(1, Ordering::Relaxed);
                        }
                        let status = response.status().as_u16();
                        let _ = response.bytes().await;
                        status
                    }
                    Err(_) => 0,
                };
                *statuses.lock().await.entry((hunt, status)).or_default() += 1;
                n += 256;
            }
        }));
    }
    let mut probes = Vec::new();
    let mut probe_statuses: BTreeMap<u16, u64> = BTreeMap::new();
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut peak_rss: f64 = 0.0;
    while started.elapsed() < Duration::from_secs(seconds) {
        tick.tick().await;
        let begun = Instant::now();
        let tenant = &setup.tenants[probes.len() % setup.tenants.len()];
        let status = token(
            &setup.client,
            &setup.manifest,
            tenant,
            &setup.manifest.app.app_id,
            &setup.manifest.app.client_secret,
        )
        .await
        .map_or(0, |(status, _)| status);
        probes.push(begun.elapsed().as_micros() as u64);
        *probe_statuses.entry(status).or_default() += 1;
        peak_rss = peak_rss.max(rss_mib(pid));
    }
    stop.store(true, Ordering::Relaxed);
    for caller in callers {
        let _ = caller.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(pid) - cpu_at_start;
    probes.sort_unstable();
    let statuses = statuses.lock().await;
    let mut lists = BTreeMap::new();
    let mut hunts = BTreeMap::new();
    for ((hunt, status), count) in statuses.iter() {
        *(if *hunt { &mut hunts } else { &mut lists }).entry(*status).or_insert(0_u64) += count;
    }
    let answered: u64 = statuses.values().sum();
    println!(
        "API answers: lists {lists:?}, hunts {hunts:?} ({:.0}/s); with Retry-After: {}",
        answered as f64 / elapsed,
        retry_after.load(Ordering::Relaxed)
    );
    println!(
        "token probe under overload: {} requests, statuses {probe_statuses:?}, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        probes.len(),
        quantile(&probes, 0.5),
        quantile(&probes, 0.99),
        probes.last().copied().unwrap_or(0) as f64 / 1000.0
    );
    println!("server CPU {:.0} % of one core; peak RSS {peak_rss:.1} MiB", cpu / elapsed * 100.0);
}

fn quantile(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let at = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[at] as f64 / 1000.0
}

fn rss_mib(pid: u32) -> f64 {
    status_mib(pid, "VmRSS:")
}

/// A size line of `/proc/PID/status` (`VmRSS:`, `RssAnon:`, …) in MiB.
fn status_mib(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// User and system CPU time of the process, in seconds (clock ticks of 1/100 s).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}
