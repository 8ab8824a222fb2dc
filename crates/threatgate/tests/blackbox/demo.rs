//! `threatgate demo`, run as the README runs it: it seeds, serves, and writes `demo.json`
//! whose values work as printed; a second run reuses the same directory.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use threatgate_proto::DemoManifest;

use crate::{SCOPE, unverified_claims};

pub struct Demo {
    child: tokio::process::Child,
}

impl Demo {
    /// Starts the demo and waits for a new `demo.json` (the old one, from an earlier run,
    /// names another port).
    pub async fn start(data_dir: &Path, database: Option<&threatgate_testkit::TestDatabase>) -> (Self, DemoManifest) {
        Self::start_with(data_dir, database, &[]).await
    }

    /// As [`Demo::start`], with more arguments for `demo`. What it prints goes to
    /// `DATA_DIR/demo.out`.
    pub async fn start_with(
        data_dir: &Path,
        database: Option<&threatgate_testkit::TestDatabase>,
        extra: &[&str],
    ) -> (Self, DemoManifest) {
        let manifest_path = data_dir.join("demo.json");
        let old = std::fs::read(&manifest_path).ok();
        // Everything the demo logs (at debug level) goes to a file, for the check that no
        // secret or token reaches the log.
        let log = std::fs::OpenOptions::new().create(true).append(true).open(data_dir.join("demo.log")).unwrap();
        let out = std::fs::File::create(data_dir.join("demo.out")).unwrap();
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_threatgate"))
            .args(["demo", "--listen", "127.0.0.1:0"])
            .args(extra)
            .args(threatgate_testkit::store_args(data_dir, database))
            .env("RUST_LOG", "debug")
            .stdout(out)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(bytes) = std::fs::read(&manifest_path)
                && Some(&bytes) != old.as_ref()
            {
                return (Self { child }, serde_json::from_slice(&bytes).expect("demo.json as documented"));
            }
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(data_dir.join("demo.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(20).collect();
                panic!("the demo exited ({status}) before writing demo.json:\n{}", tail.join("\n"));
            }
            assert!(Instant::now() < deadline, "demo.json did not appear within 120 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Ends the demo with SIGKILL (tokio's `kill`): no shutdown, no flush.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

pub async fn token(client: &reqwest::Client, manifest: &DemoManifest, tenant: &str) -> reqwest::Response {
    client
        .post(format!("{}/{tenant}/oauth2/v2.0/token", manifest.authority))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &manifest.app.app_id),
            ("scope", SCOPE),
            ("client_secret", &manifest.app.client_secret),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_demo_serves_what_demo_json_describes_and_reuses_its_directory() {
    let data_dir = tempfile::tempdir().unwrap();
    let database = threatgate_testkit::TestDatabase::for_this_run().await;
    let (demo, manifest) = Demo::start(data_dir.path(), database.as_ref()).await;

    assert!(manifest.authority.starts_with("https://127.0.0.1:"));
    assert_eq!(manifest.api_base, manifest.authority);
    assert_eq!(manifest.resource, "https://api.security.microsoft.com");
    assert!(Path::new(&manifest.ca_certificate).is_absolute());
    assert_eq!(manifest.partner.domain, "fabrikam.onmicrosoft.com");
    let names: Vec<(&str, bool)> = manifest.customers.iter().map(|c| (c.display_name.as_str(), c.consented)).collect();
    assert_eq!(names, [("Contoso", true), ("Woodgrove", true), ("Northwind", false)]);

    let client = threatgate_testkit::client_trusting(Path::new(&manifest.ca_certificate)).unwrap();
    for customer in &manifest.customers {
        let response = token(&client, &manifest, &customer.tenant_id).await;
        if customer.consented {
            assert_eq!(response.status(), 200, "{}", customer.display_name);
            let body: Value = response.json().await.unwrap();
            let claims = unverified_claims(body["access_token"].as_str().unwrap());
            assert_eq!(claims["tid"], customer.tenant_id.as_str());
            assert_eq!(
                claims["roles"],
                serde_json::json!(["Incident.Read.All", "Incident.ReadWrite.All", "AdvancedHunting.Read.All"])
            );
            // The guide's last step: the token opens the customer's incidents.
            let incidents: Value = client
                .get(format!("{}/api/incidents", manifest.api_base))
                .bearer_auth(body["access_token"].as_str().unwrap())
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let incidents = incidents["value"].as_array().unwrap();
            assert_eq!(incidents.len(), 40, "{}", customer.display_name);
            // Something of every kind a poller meets: each status, owners, verdicts, comments,
            // tags, and one incident merged into another.
            let count = |keep: &dyn Fn(&Value) -> bool| incidents.iter().filter(|i| keep(i)).count();
            for status in ["Active", "InProgress", "Resolved", "Redirected"] {
                assert!(count(&|i| i["status"] == status) > 0, "{}: no {status} incident", customer.display_name);
            }
            assert_eq!(count(&|i| i["status"] == "Redirected"), 1);
            let redirected = incidents.iter().find(|i| i["status"] == "Redirected").unwrap();
            assert!(redirected["redirectIncidentId"].is_i64(), "{redirected}");
            assert!(count(&|i| i["assignedTo"].is_string()) > 0 && count(&|i| i["assignedTo"].is_null()) > 0);
            assert!(count(&|i| i["classification"] == "TruePositive" && i["determination"] == "Malware") > 0);
            assert!(count(&|i| i["classification"] == "FalsePositive") > 0);
            assert!(count(&|i| i["classification"] == "Unknown") > 0);
            assert!(count(&|i| i["comments"].as_array().is_some_and(|c| !c.is_empty())) > 0);
            assert!(count(&|i| i["tags"].as_array().is_some_and(|t| !t.is_empty())) > 0);
        } else {
            assert_eq!(response.status(), 400, "{} has not consented", customer.display_name);
        }
    }

    // The partner toolkit's line the demo prints, with its written profile.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_threatgate"))
        .args(["incidents", "list", "--profile", "demo", "--all-tenants", "--since", "3650d", "--output", "ndjson"])
        .arg("--profiles")
        .arg(data_dir.path().join("partner.toml"))
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "Northwind has not consented: {stderr}");
    assert!(stderr.contains("error: northwind.onmicrosoft.com: AADSTS700016"), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&output.stdout).lines().count(), 80, "Contoso's and Woodgrove's 40 each");
    demo.stop().await;

    let log = std::fs::read_to_string(data_dir.path().join("demo.log")).unwrap();
    assert!(log.contains("token issued"), "the log records issued tokens");
    // One line per request, with the tenant once a token is verified; no colours in a file.
    let calls = log.lines().filter(|line| line.contains("threatgate::request")).collect::<Vec<_>>();
    assert!(
        calls.iter().any(|line| line.contains("method=GET path=/api/incidents status=200")
            && line.contains(&format!("tenant={}", manifest.customers[0].tenant_id))),
        "{calls:#?}"
    );
    assert!(!log.contains('\u{1b}'), "no ANSI escape codes when stderr is not a terminal");
    assert!(!log.contains(&manifest.app.client_secret), "the client secret never reaches the log");
    assert!(!log.contains("eyJ0eXAi"), "no token reaches the log");
    assert!(!log.contains("$argon2id$"), "no password hash reaches the log");

    let (demo, again) = Demo::start(data_dir.path(), database.as_ref()).await;
    assert_eq!(again.app.app_id, manifest.app.app_id, "the same application");
    assert_eq!(again.app.client_secret, manifest.app.client_secret, "the recorded secret still works and is kept");
    assert_eq!(again.customers[0].tenant_id, manifest.customers[0].tenant_id);
    assert_eq!(again.partner.admin_password, manifest.partner.admin_password);
    let client = threatgate_testkit::client_trusting(Path::new(&again.ca_certificate)).unwrap();
    assert_eq!(token(&client, &again, &again.customers[1].tenant_id).await.status(), 200);
    demo.stop().await;
}

/// The guide `demo` prints, once it has printed all of it.
async fn printed_guide(data_dir: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(data_dir.join("demo.out")).unwrap_or_default();
        if text.contains("Press Ctrl-C to stop.") {
            return text;
        }
        assert!(Instant::now() < deadline, "the demo printed no guide:\n{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs one printed command line with bash, as a user pasting it would.
async fn run_printed(line: &str, database: Option<&threatgate_testkit::TestDatabase>) -> std::process::Output {
    let mut command = tokio::process::Command::new("bash");
    command.args(["-c", &format!("set -euo pipefail\n{line}")]).env_remove("THREATGATE_DATABASE_URL");
    if let Some(database) = database {
        // What the guide tells a user of an external database to set.
        command.env("THREATGATE_DATABASE_URL", database.url());
    }
    command.output().await.unwrap()
}

/// Every command the demo prints runs as printed, over HTTPS and over plain HTTP, and every
/// page it names (portal, admin-consent link, token decoder) answers.
#[tokio::test]
async fn every_command_and_page_the_demo_prints_works_as_printed() {
    for plain_http in [false, true] {
        // A database of its own for each demo, as its data directory (which holds the keys).
        let database = threatgate_testkit::TestDatabase::for_this_run().await;
        let data_dir = tempfile::tempdir().unwrap();
        let extra: &[&str] = if plain_http { &["--plain-http"] } else { &[] };
        let (demo, manifest) = Demo::start_with(data_dir.path(), database.as_ref(), extra).await;
        let guide = printed_guide(data_dir.path()).await;
        let mode = if plain_http { "plain HTTP" } else { "HTTPS" };
        assert!(!guide.contains("--cacert ''") && !guide.contains("--cacert  "), "{mode}: an empty --cacert:\n{guide}");
        assert!(guide.contains(&format!("{}/portal", manifest.authority)), "{mode}: the portal is named");
        assert!(guide.contains(&format!("{}/decode", manifest.authority)), "{mode}: the decoder is named");

        // The pages, fetched as a browser would (the consent link signs the customer in first).
        let client = if plain_http {
            reqwest::Client::new()
        } else {
            threatgate_testkit::client_trusting(Path::new(&manifest.ca_certificate)).unwrap()
        };
        let pages: Vec<&str> = guide
            .lines()
            .map(str::trim)
            .filter(|line| line.starts_with(&manifest.authority) && !line.contains(' '))
            .collect();
        assert_eq!(pages.len(), 3, "{mode}: portal, consent link, decoder:\n{guide}");
        for page in &pages {
            let response = client.get(*page).send().await.unwrap();
            assert_eq!(response.status(), 200, "{mode}: {page}");
            assert!(response.text().await.unwrap().contains("<html"), "{mode}: {page} is a page");
        }

        // The commands, in the printed order; `TOKEN=$(…)` and the line after it are one step.
        let mut steps: Vec<String> = Vec::new();
        for line in guide.lines() {
            let exe = env!("CARGO_BIN_EXE_threatgate");
            if !(line.starts_with("curl ") || line.starts_with("TOKEN=") || line.starts_with(exe)) {
                continue;
            }
            match steps.last_mut() {
                Some(last) if last.starts_with("TOKEN=") && !last.contains('\n') => {
                    last.push('\n');
                    last.push_str(line);
                }
                _ => steps.push(line.to_owned()),
            }
        }
        assert_eq!(steps.len(), 7, "{mode}: the guide's seven steps:\n{steps:#?}");
        for (number, step) in steps.iter().enumerate() {
            let output = run_printed(step, database.as_ref()).await;
            let stdout = String::from_utf8_lossy(&output.stdout);
            let stderr = String::from_utf8_lossy(&output.stderr);
            let context = format!("{mode}, step {}: {step}\n{stdout}\n{stderr}", number + 1);
            if step.contains("--all-tenants") {
                // Northwind has not consented yet: reported on its own line, the others answer.
                assert_eq!(output.status.code(), Some(1), "{context}");
                assert!(stderr.contains("northwind.onmicrosoft.com: AADSTS700016"), "{context}");
                assert!(stdout.lines().count() > 2, "{context}");
            } else {
                assert!(output.status.success(), "{context}");
            }
            let expected = match number {
                0 | 1 => "access_token",
                2 => "\"roles\"",
                3 => "@odata.context",
                4 => "contoso.onmicrosoft.com",
                5 => "DeviceName",
                _ => "",
            };
            assert!(stdout.contains(expected), "{context}");
        }
        // After step 7 (Northwind's consent, seen by the server within its refresh interval),
        // the toolkit's line answers for every customer.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let output = run_printed(&steps[4], database.as_ref()).await;
            if output.status.success() {
                break;
            }
            assert!(Instant::now() < deadline, "{mode}: {}", String::from_utf8_lossy(&output.stderr));
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // Piped into `head -1`, every output format stops quietly (no panic, no "Broken pipe").
        if !plain_http {
            let every_incident = steps[4].replace("--since 24h", "--since 3650d");
            for format in ["json", "ndjson", "csv", "table"] {
                let line = format!("{every_incident} --output {format} | head -1");
                let output = run_printed(&line, database.as_ref()).await;
                let (stdout, stderr) =
                    (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
                assert!(output.status.success(), "{format}: {stderr}");
                assert!(!stderr.contains("panicked") && !stderr.contains("Broken pipe"), "{format}: {stderr}");
                assert_eq!(stdout.lines().count(), 1, "{format}: {stdout}");
                if format == "csv" {
                    assert_eq!(stdout.trim_end(), "tenant,id,severity,status,assignedTo,lastUpdateTime,name");
                }
            }
        }
        demo.stop().await;
    }
}

/// `threatgate health` against a server, as a container's health check runs it.
async fn health(url: &str, data_dir: &Path) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_threatgate"))
        .args(["health", "--timeout-seconds", "3", "--url", url, "--data-dir"])
        .arg(data_dir)
        .output()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_ephemeral_demo_keeps_nothing_once_stopped_and_health_follows_it() {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_threatgate"))
        .args(["demo", "--ephemeral", "--listen", "127.0.0.1:0"])
        .env_remove("THREATGATE_DATA_DIR")
        .env_remove("THREATGATE_DATABASE_URL")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // The data directory is named in what the demo prints; the rest is drained so that the
    // demo never blocks on a full pipe.
    let stdout = child.stdout.take().unwrap();
    let (found, mut named) = tokio::sync::mpsc::channel::<std::path::PathBuf>(1);
    tokio::spawn(async move {
        use tokio::io::AsyncBufReadExt;
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(rest) = line.strip_prefix("data directory: ") {
                let path = rest.trim_end_matches(" (ephemeral: removed when the server stops)");
                assert_ne!(path, rest, "the demo says the directory is ephemeral: {line}");
                let _ = found.send(path.into()).await;
            }
        }
    });
    let data_dir = tokio::time::timeout(Duration::from_secs(120), named.recv()).await.unwrap().unwrap();
    if Path::new("/dev/shm").is_dir() {
        assert!(data_dir.starts_with("/dev/shm"), "kept in memory: {}", data_dir.display());
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    let manifest: DemoManifest = loop {
        if let Ok(bytes) = std::fs::read(data_dir.join("demo.json")) {
            break serde_json::from_slice(&bytes).unwrap();
        }
        assert!(Instant::now() < deadline, "demo.json did not appear");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let client = threatgate_testkit::client_trusting(Path::new(&manifest.ca_certificate)).unwrap();
    assert_eq!(token(&client, &manifest, &manifest.customers[0].tenant_id).await.status(), 200);

    let up = health(&manifest.authority, &data_dir).await;
    assert!(up.status.success(), "{}", String::from_utf8_lossy(&up.stderr));
    assert!(String::from_utf8_lossy(&up.stdout).starts_with("ready"));
    // Without the CA the server's certificate is not trusted: health says so and fails.
    let stranger = tempfile::tempdir().unwrap();
    let untrusted = health(&manifest.authority, stranger.path()).await;
    assert!(!untrusted.status.success());

    // SIGTERM, as a container runtime or Ctrl-C stops it: the directory goes with it.
    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "{status}");
    assert!(!data_dir.exists(), "{} is removed", data_dir.display());

    let down = health(&manifest.authority, stranger.path()).await;
    assert!(!down.status.success());
    let said = String::from_utf8_lossy(&down.stderr);
    assert!(said.contains("/readyz did not answer"), "{said}");
}
