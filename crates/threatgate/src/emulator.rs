//! `threatgate emulator`: the running server's emulator controls (faults, token lifetimes,
//! checkpoint and reset) through its admin endpoint, with the URL, CA and key it wrote to
//! `DATA_DIR/emulator.json`.

use std::path::Path;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use threatgate_server::emulator::FaultSpec;

use crate::cli::{EmulatorCommand, FaultArgs, FaultCommand, LifetimeCommand};
use crate::output;

/// The admin endpoint of the server serving `data_dir`.
struct Endpoint {
    client: reqwest::Client,
    url: String,
    key: String,
}

impl Endpoint {
    fn open(data_dir: &Path) -> anyhow::Result<Self> {
        let path = data_dir.join("emulator.json");
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "{} is missing: start the server with the emulator's controls on (`threatgate demo --emulator`, or `[emulator] enabled = true`)",
                path.display()
            )
        })?;
        let file: Value = serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
        let (Some(url), Some(key)) = (file["url"].as_str(), file["key"].as_str()) else {
            bail!("{} lacks the server's url or key", path.display());
        };
        let mut builder = reqwest::Client::builder();
        if let Some(ca) = file["ca_certificate"].as_str() {
            let pem = std::fs::read(ca).with_context(|| format!("reading the server's CA {ca}"))?;
            builder = builder.tls_certs_only([reqwest::Certificate::from_pem(&pem)?]);
        }
        Ok(Self { client: builder.build()?, url: format!("{url}/_threatgate/emulator"), key: key.to_owned() })
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let mut request = self.client.request(method, format!("{}{path}", self.url)).bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.context("the server did not answer (is it running?)")?;
        let status = response.status();
        let text = response.text().await?;
        let value: Value =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        if !status.is_success() {
            let message = value["error"]["message"].as_str().map(str::to_owned).unwrap_or_else(|| value.to_string());
            bail!("{status}: {message}");
        }
        Ok(value)
    }
}

pub async fn emulator(command: EmulatorCommand, json: bool) -> anyhow::Result<()> {
    match command {
        EmulatorCommand::Fault(FaultCommand::Add(args)) => {
            let endpoint = Endpoint::open(&args.data_dir)?;
            let spec = fault_spec(&args);
            spec.check().map_err(anyhow::Error::msg)?;
            let rule = endpoint.call(reqwest::Method::POST, "/faults", Some(serde_json::to_value(&spec)?)).await?;
            output::emit(json, &rule, || format!("fault {} added: {}", rule["id"], describe(&rule)))
        }
        EmulatorCommand::Fault(FaultCommand::List { data_dir }) => {
            let rules = Endpoint::open(&data_dir)?.call(reqwest::Method::GET, "/faults", None).await?;
            output::emit(json, &rules["value"], || {
                let lines: Vec<String> = rules["value"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|rule| format!("{:>4}  {}  (acted {} times)", rule["id"], describe(rule), rule["hits"]))
                    .collect();
                if lines.is_empty() { "no faults".to_owned() } else { lines.join("\n") }
            })
        }
        EmulatorCommand::Fault(FaultCommand::Remove { data_dir, id }) => {
            Endpoint::open(&data_dir)?.call(reqwest::Method::DELETE, &format!("/faults/{id}"), None).await?;
            output::emit(json, &json!({"removed": id}), || format!("fault {id} removed"))
        }
        EmulatorCommand::Fault(FaultCommand::Clear { data_dir }) => {
            let removed = Endpoint::open(&data_dir)?.call(reqwest::Method::DELETE, "/faults", None).await?;
            output::emit(json, &removed, || format!("{} faults removed", removed["removed"]))
        }
        EmulatorCommand::TokenLifetime(LifetimeCommand::Set { data_dir, app, seconds }) => {
            let path = format!("/token-lifetimes/{app}");
            let all = Endpoint::open(&data_dir)?
                .call(reqwest::Method::PUT, &path, Some(json!({ "seconds": seconds })))
                .await?;
            output::emit(json, &all["value"], || format!("tokens of {app} now live {seconds} s"))
        }
        EmulatorCommand::TokenLifetime(LifetimeCommand::Reset { data_dir, app }) => {
            let path = format!("/token-lifetimes/{app}");
            let all = Endpoint::open(&data_dir)?.call(reqwest::Method::DELETE, &path, None).await?;
            output::emit(json, &all["value"], || format!("tokens of {app} live an hour again"))
        }
        EmulatorCommand::Checkpoint { data_dir } => {
            let saved = Endpoint::open(&data_dir)?.call(reqwest::Method::POST, "/checkpoint", None).await?;
            output::emit(json, &saved, || format!("checkpoint saved ({} ms)", saved["elapsed_ms"]))
        }
        EmulatorCommand::Reset { data_dir } => {
            let reset = Endpoint::open(&data_dir)?.call(reqwest::Method::POST, "/reset", None).await?;
            output::emit(json, &reset, || format!("reset to the checkpoint ({} ms)", reset["elapsed_ms"]))
        }
        EmulatorCommand::TokenLifetime(LifetimeCommand::List { data_dir }) => {
            let all = Endpoint::open(&data_dir)?.call(reqwest::Method::GET, "/token-lifetimes", None).await?;
            output::emit(json, &all["value"], || {
                let lines: Vec<String> = all["value"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|entry| format!("{}  {} s", entry["app"].as_str().unwrap_or_default(), entry["seconds"]))
                    .collect();
                if lines.is_empty() { "every application's tokens live an hour".to_owned() } else { lines.join("\n") }
            })
        }
    }
}

fn fault_spec(args: &FaultArgs) -> FaultSpec {
    FaultSpec {
        tenant: args.tenant.clone(),
        app: args.app.clone(),
        route: args.route.clone(),
        status: args.status,
        retry_after: args.retry_after,
        aadsts: args.aadsts,
        latency_ms: args.latency_ms,
        drop: args.drop,
        count: args.count,
        percent: args.percent,
    }
}

/// One line for a rule: what it does to which calls, how often.
fn describe(rule: &Value) -> String {
    let text = |key: &str| rule[key].as_str().map(str::to_owned).or_else(|| rule[key].as_u64().map(|n| n.to_string()));
    let mut effect = Vec::new();
    if let Some(status) = text("status") {
        effect.push(format!("status {status}"));
    }
    if let Some(seconds) = text("retry_after") {
        effect.push(format!("Retry-After {seconds}"));
    }
    if let Some(code) = text("aadsts") {
        effect.push(format!("AADSTS{code}"));
    }
    if let Some(ms) = text("latency_ms") {
        effect.push(format!("+{ms} ms"));
    }
    if rule["drop"] == true {
        effect.push("connection dropped".into());
    }
    let scope = ["route", "tenant", "app"]
        .iter()
        .filter_map(|key| text(key).map(|value| format!("{key} {value}")))
        .collect::<Vec<_>>();
    let scope = if scope.is_empty() { "every call".to_owned() } else { scope.join(", ") };
    let often = match (text("count"), text("percent")) {
        (Some(count), _) => format!("the next {count} calls"),
        (_, Some(percent)) => format!("{percent}% of calls"),
        _ => "every call".to_owned(),
    };
    format!("{} on {scope}, {often}", effect.join(", "))
}
