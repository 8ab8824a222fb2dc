//! Runs a collection of advanced hunting queries through Threatgate: parse, bind, and run on a
//! store (an empty SQLite store in `DATA_DIR`, or the PostgreSQL database of
//! `THREATGATE_DATABASE_URL`), and writes one JSON line per query:
//! `{"source", "outcome": "answered"|"refused"|"failed", "kind", "message", "columns": [[name, type]], "ms"}`.
//! "failed" is a store error that is not the query's fault (what the API would answer with a
//! 5xx): the run exits 1 if any query failed.
//!
//!     scripts/kql/extract.py ~/Microsoft-365-Defender-Hunting-Queries > queries.jsonl
//!     cargo run --release --example hunting_corpus -- DATA_DIR < queries.jsonl > results.jsonl
//!     cargo run --release --example hunting_corpus -- --schema > schema.json
//!
//! With `THREATGATE_CORPUS_TENANT` set to a tenant of that store (one `threatgate demo` seeded,
//! say), the queries run over its events, and `ms` is each one's time on that data.
//!
//! `scripts/kql/check.js` then compares the results with Microsoft's own parser (see
//! `scripts/kql/README.md`).
#![allow(clippy::print_stdout, clippy::print_stderr, reason = "a measuring tool reports on stdout")]

use std::io::BufRead;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use threatgate_domain::{RunHunting, TenantId, TenantScope, Ticks};
use threatgate_server::DataDir;
use threatgate_store::{HuntLimits, HuntRefusal};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Some(dir) = std::env::args().nth(1) else {
        anyhow::bail!("usage: hunting_corpus DATA_DIR < queries.jsonl, or hunting_corpus --schema")
    };
    if dir == "--schema" {
        // The tables as `{"Table": [["Column", "type"], …]}`, for Microsoft's parser.
        let tables: serde_json::Map<String, Value> = threatgate_hunting::schema::TABLES
            .iter()
            .map(|t| (t.name.to_owned(), t.columns.iter().map(|c| json!([c.name, c.ty.kql_name()])).collect()))
            .collect();
        println!("{}", Value::Object(tables));
        return Ok(());
    }
    let data = DataDir::create(std::path::Path::new(&dir))?;
    let url = std::env::var("THREATGATE_DATABASE_URL").ok();
    let store = data.open_store(url.as_deref(), 4).await?;
    // THREATGATE_CORPUS_TENANT: a tenant whose events to query (e.g. one `threatgate demo`
    // seeded in DATA_DIR), for timings on real data; else a tenant with none.
    let tenant = match std::env::var("THREATGATE_CORPUS_TENANT") {
        Ok(id) => TenantId::parse(&id).ok_or_else(|| anyhow::anyhow!("THREATGATE_CORPUS_TENANT is not a tenant id"))?,
        Err(_) => TenantId::from_uuid(uuid::Uuid::nil()),
    };
    let scope = TenantScope::<RunHunting>::for_administrator(tenant);
    let limits = HuntLimits { max_rows: 10_000, timeout: Duration::from_secs(10) };
    let now = Ticks::at(time::OffsetDateTime::now_utc());
    let (mut answered, mut refused, mut failed) = (0, 0, 0);
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let item: Value = serde_json::from_str(&line)?;
        let source = item["source"].as_str().unwrap_or_default();
        let query = item["query"].as_str().unwrap_or_default();
        let started = Instant::now();
        let plan = threatgate_hunting::parse(query).and_then(|q| threatgate_hunting::bind(&q));
        let result = match plan {
            Err(error) => {
                refused += 1;
                json!({"outcome": "refused", "kind": format!("{:?}", error.kind), "message": error.describe(query)})
            }
            Ok(plan) => match store.run_hunt(&scope, &plan, now, limits).await {
                Ok(Ok(output)) => {
                    answered += 1;
                    let columns: Vec<Value> = output.fields.iter().map(|f| json!([f.name, f.ty.kql_name()])).collect();
                    json!({"outcome": "answered", "columns": columns})
                }
                Ok(Err(refusal)) => {
                    refused += 1;
                    let message = match refusal {
                        HuntRefusal::Invalid(message) => message,
                        other => format!("{other:?}"),
                    };
                    json!({"outcome": "refused", "kind": "Run", "message": message})
                }
                Err(error) => {
                    failed += 1;
                    json!({"outcome": "failed", "message": error.to_string()})
                }
            },
        };
        let mut result = result;
        result["source"] = json!(source);
        result["ms"] = json!(started.elapsed().as_millis() as u64);
        println!("{result}");
    }
    eprintln!("answered {answered}, refused {refused}, failed {failed}");
    if failed > 0 {
        std::process::exit(1);
    }
    Ok(())
}
