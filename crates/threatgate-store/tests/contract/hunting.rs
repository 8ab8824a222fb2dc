//! Advanced hunting on every backend: a fixed dataset for two tenants, and the golden queries
//! of `hunting.golden` run over it as one tenant.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use threatgate_domain::datetime::parse_datetime_ticks;
use threatgate_domain::{IngestAlerts, RunHunting, TenantId, TenantScope, Ticks};
use threatgate_hunting::schema::{self, Type};
use threatgate_store::{EventValue, HuntLimits, HuntRefusal, Store};
use uuid::Uuid;

const NOW: &str = "2026-11-20T12:00:00Z";
const MINUTE: i64 = 600_000_000;

fn now() -> i64 {
    parse_datetime_ticks(NOW).unwrap()
}

/// A row of `table` from `(column, value)` pairs; other columns stay null.
fn row(table: &str, values: &[(&str, EventValue)]) -> Vec<Option<EventValue>> {
    let table = schema::table(table).unwrap();
    let given: HashMap<&str, &EventValue> = values.iter().map(|(c, v)| (*c, v)).collect();
    for name in given.keys() {
        assert!(table.column(name).is_some(), "{} has no column {name}", table.name);
    }
    table.columns.iter().map(|c| given.get(c.name).map(|v| (*v).clone())).collect()
}

fn text(value: &str) -> EventValue {
    EventValue::Text(value.into())
}

fn ago(minutes: i64) -> EventValue {
    EventValue::Long(now() - minutes * MINUTE)
}

async fn insert(store: &dyn Store, tenant: TenantId, table: &str, rows: Vec<Vec<Option<EventValue>>>) {
    let scope = TenantScope::<IngestAlerts>::for_administrator(tenant);
    let added = store.insert_events(&scope, schema::table(table).unwrap(), &rows).await.unwrap();
    assert_eq!(added, rows.len() as u64);
}

/// The dataset the golden file describes, for `tenant`; `other` gets a row that must never show.
async fn dataset(store: &dyn Store, tenant: TenantId, other: TenantId) {
    let process =
        |minutes: i64, device: &str, name: &str, file: &str, command: &str, parent: &str, account: &str, size: i64| {
            row(
                "DeviceProcessEvents",
                &[
                    ("Timestamp", ago(minutes)),
                    ("DeviceId", text(device)),
                    ("DeviceName", text(name)),
                    ("ActionType", text("ProcessCreated")),
                    ("FileName", text(file)),
                    ("ProcessCommandLine", text(command)),
                    ("InitiatingProcessFileName", text(parent)),
                    ("AccountName", text(account)),
                    ("FileSize", EventValue::Long(size)),
                ],
            )
        };
    insert(
        store,
        tenant,
        "DeviceProcessEvents",
        vec![
            process(10, "d1", "ws-01", "powershell.exe", "powershell.exe -enc SQBFAFgA", "explorer.exe", "alice", 1000),
            process(30, "d1", "ws-01", "cmd.exe", "cmd.exe /c whoami", "powershell.exe", "alice", 300),
            process(
                120,
                "d2",
                "ws-02",
                "PowerShell.EXE",
                "powershell -nop -c Invoke-Mimikatz",
                "winword.exe",
                "bob",
                1000,
            ),
            process(300, "d2", "ws-02", "conhost.exe", "conhost.exe 0xffffffff", "powershell.exe", "bob", 200),
            process(
                26 * 60,
                "d3",
                "srv-01",
                "powershell.exe",
                "powershell.exe Get-Process",
                "services.exe",
                "system",
                1000,
            ),
            process(
                3 * 1440,
                "d3",
                "srv-01",
                "mimikatz.exe",
                "mimikatz.exe privilege::debug sekurlsa::logonpasswords",
                "cmd.exe",
                "system",
                5000,
            ),
            process(
                8 * 1440,
                "d1",
                "ws-01",
                "notepad.exe",
                r"notepad.exe C:\temp\notes.txt",
                "explorer.exe",
                "alice",
                150,
            ),
        ],
    )
    .await;
    insert(
        store,
        other,
        "DeviceProcessEvents",
        vec![process(
            5,
            "d9",
            "other-01",
            "powershell.exe",
            "powershell.exe -enc AAAA mimikatz",
            "explorer.exe",
            "alice",
            1,
        )],
    )
    .await;
    let network = |minutes: i64, device: &str, name: &str, ip: &str, port: i64, url: Option<&str>, parent: &str| {
        let mut values = vec![
            ("Timestamp", ago(minutes)),
            ("DeviceId", text(device)),
            ("DeviceName", text(name)),
            ("RemoteIP", text(ip)),
            ("RemotePort", EventValue::Long(port)),
            ("InitiatingProcessFileName", text(parent)),
        ];
        if let Some(url) = url {
            values.push(("RemoteUrl", text(url)));
        }
        row("DeviceNetworkEvents", &values)
    };
    insert(
        store,
        tenant,
        "DeviceNetworkEvents",
        vec![
            network(12, "d1", "ws-01", "10.0.0.5", 443, Some("contoso.com"), "powershell.exe"),
            network(40, "d1", "ws-01", "10.0.0.6", 443, Some("evil.example"), "powershell.exe"),
            network(180, "d2", "ws-02", "10.0.0.5", 80, Some("contoso.com"), "chrome.exe"),
            network(240, "d2", "ws-02", "192.168.1.9", 443, None, "powershell.exe"),
            network(30 * 60, "d3", "srv-01", "10.0.0.7", 445, None, "system"),
        ],
    )
    .await;
    insert(store, other, "DeviceNetworkEvents", vec![network(5, "d9", "other-01", "10.9.9.9", 443, None, "x.exe")])
        .await;
    let info = |minutes: i64, device: &str, name: &str, platform: &str, build: i64, joined: bool| {
        row(
            "DeviceInfo",
            &[
                ("Timestamp", ago(minutes)),
                ("DeviceId", text(device)),
                ("DeviceName", text(name)),
                ("OSPlatform", text(platform)),
                ("OSBuild", EventValue::Long(build)),
                ("IsAzureADJoined", EventValue::Bool(joined)),
                ("LoggedOnUsers", text(r#"[{"UserName":"alice"}]"#)),
            ],
        )
    };
    insert(
        store,
        tenant,
        "DeviceInfo",
        vec![
            info(60, "d1", "ws-01", "Windows11", 22621, true),
            info(60, "d2", "ws-02", "Windows10", 19045, false),
            info(60, "d3", "srv-01", "WindowsServer2019", 17763, false),
            info(25 * 60, "d3", "srv-01", "WindowsServer2019", 17700, false),
        ],
    )
    .await;
}

struct Case {
    name: String,
    unordered: bool,
    query: String,
    columns: Vec<String>,
    rows: Vec<serde_json::Value>,
}

fn golden() -> Vec<Case> {
    let text = include_str!("hunting.golden");
    let mut cases = Vec::new();
    for block in text.split("\n== ").skip(1) {
        let (header, rest) = block.split_once('\n').unwrap();
        let (query, expected) = rest.split_once("\n-- ").unwrap_or_else(|| panic!("{header}: no '--' line"));
        let mut lines = expected.lines();
        let columns = lines.next().unwrap().split(", ").map(str::to_owned).collect();
        let rows = lines
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{header}: {l}: {e}")))
            .collect();
        cases.push(Case {
            name: header.trim_end_matches("[unordered]").trim().to_owned(),
            unordered: header.ends_with("[unordered]"),
            query: query.trim().to_owned(),
            columns,
            rows,
        });
    }
    cases
}

const LIMITS: HuntLimits = HuntLimits { max_rows: 100_000, timeout: Duration::from_secs(30) };

pub(crate) async fn hunting_golden_queries_answer_as_kql_does(store: Arc<dyn Store>) {
    let (tenant, other) = (TenantId::from_uuid(Uuid::new_v4()), TenantId::from_uuid(Uuid::new_v4()));
    dataset(store.as_ref(), tenant, other).await;
    let scope = TenantScope::<RunHunting>::for_administrator(tenant);
    let cases = golden();
    assert!(cases.len() >= 60, "{} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let parsed = threatgate_hunting::parse(&case.query)
            .unwrap_or_else(|e| panic!("{}: {}", case.name, e.describe(&case.query)));
        let plan =
            threatgate_hunting::bind(&parsed).unwrap_or_else(|e| panic!("{}: {}", case.name, e.describe(&case.query)));
        let output = match store.run_hunt(&scope, &plan, Ticks(now()), LIMITS).await {
            Ok(Ok(output)) => output,
            Ok(Err(refusal)) => {
                failures.push(format!("{}: refused {refusal:?}", case.name));
                continue;
            }
            Err(e) => {
                failures.push(format!("{}: {e}", case.name));
                continue;
            }
        };
        let columns: Vec<String> = output.fields.iter().map(|f| format!("{}:{}", f.name, f.ty.schema_name())).collect();
        let mut got: Vec<serde_json::Value> = output.rows.into_iter().map(serde_json::Value::Array).collect();
        let mut want = case.rows.clone();
        if case.unordered {
            got.sort_by_key(ToString::to_string);
            want.sort_by_key(ToString::to_string);
        }
        if columns != case.columns || got != want {
            failures.push(format!(
                "{}:\n  columns {columns:?}\n     want {:?}\n  rows {}\n  want {}",
                case.name,
                case.columns,
                serde_json::Value::Array(got),
                serde_json::Value::Array(want)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} golden queries differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

pub(crate) async fn hunting_limits_rows_and_reads_only_the_callers_tenant(store: Arc<dyn Store>) {
    let (tenant, other) = (TenantId::from_uuid(Uuid::new_v4()), TenantId::from_uuid(Uuid::new_v4()));
    dataset(store.as_ref(), tenant, other).await;
    let run = |tenant: TenantId, query: &'static str, limits: HuntLimits| {
        let store = store.clone();
        async move {
            let plan = threatgate_hunting::bind(&threatgate_hunting::parse(query).unwrap()).unwrap();
            store
                .run_hunt(&TenantScope::<RunHunting>::for_administrator(tenant), &plan, Ticks(now()), limits)
                .await
                .unwrap()
        }
    };
    let everything = "union DeviceProcessEvents, DeviceNetworkEvents, DeviceInfo | count";
    assert_eq!(run(tenant, everything, LIMITS).await.unwrap().rows, [[serde_json::json!(16)]]);
    assert_eq!(run(other, everything, LIMITS).await.unwrap().rows, [[serde_json::json!(2)]]);
    let joined = "DeviceProcessEvents | join kind=leftouter (DeviceNetworkEvents) on DeviceId | project DeviceName | distinct DeviceName";
    assert_eq!(run(other, joined, LIMITS).await.unwrap().rows, [[serde_json::json!("other-01")]]);
    let few = HuntLimits { max_rows: 6, ..LIMITS };
    assert_eq!(run(tenant, "DeviceProcessEvents", few).await, Err(HuntRefusal::TooManyRows));
    assert_eq!(run(tenant, "DeviceProcessEvents | take 6", few).await.unwrap().rows.len(), 6);
    // Retention removes old rows of every tenant.
    let deleted = store.delete_events_before(Ticks(now() - 2 * 1440 * MINUTE)).await.unwrap();
    assert_eq!(deleted, 2);
    assert_eq!(run(tenant, everything, LIMITS).await.unwrap().rows, [[serde_json::json!(14)]]);
}

pub(crate) async fn hunting_tables_hold_every_column_of_the_schema(store: Arc<dyn Store>) {
    // A row with every column set, in every table, comes back as written.
    let tenant = TenantId::from_uuid(Uuid::new_v4());
    for table in schema::TABLES {
        let values: Vec<Option<EventValue>> = table
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                Some(match c.ty {
                    Type::String => EventValue::Text(format!("{}-{i}", c.name)),
                    Type::Dynamic => EventValue::Text(format!("[{i}]")),
                    Type::DateTime => EventValue::Long(now() - i as i64 * MINUTE),
                    Type::Int | Type::Long | Type::TimeSpan => EventValue::Long(i as i64),
                    Type::Real => EventValue::Real(i as f64 + 0.5),
                    Type::Bool => EventValue::Bool(i % 2 == 0),
                })
            })
            .collect();
        insert(store.as_ref(), tenant, table.name, vec![values]).await;
        let plan = threatgate_hunting::bind(&threatgate_hunting::parse(table.name).unwrap()).unwrap();
        let output = store
            .run_hunt(&TenantScope::<RunHunting>::for_administrator(tenant), &plan, Ticks(now()), LIMITS)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(output.fields.len(), table.columns.len(), "{}", table.name);
        let row = &output.rows[0];
        for (i, column) in table.columns.iter().enumerate() {
            let expected = match column.ty {
                Type::String => serde_json::json!(format!("{}-{i}", column.name)),
                Type::Dynamic => serde_json::json!([i]),
                Type::DateTime => {
                    serde_json::json!(threatgate_domain::datetime::format_ticks(now() - i as i64 * MINUTE))
                }
                Type::Int | Type::Long => serde_json::json!(i),
                Type::TimeSpan => serde_json::json!(threatgate_store::hunting::format_timespan(i as i64)),
                Type::Real => serde_json::json!(i as f64 + 0.5),
                Type::Bool => serde_json::json!(i % 2 == 0),
            };
            assert_eq!(row[i], expected, "{}.{}", table.name, column.name);
        }
    }
}

pub(crate) async fn hunting_text_keeps_every_character_and_has_finds_indexed_terms(store: Arc<dyn Store>) {
    let (tenant, other) = (TenantId::from_uuid(Uuid::new_v4()), TenantId::from_uuid(Uuid::new_v4()));
    let awkward = "tab\there\nnew line \\ back\\slash \r\n \\N NULL é 日本 \"quoted\" 'single'";
    let command = |minutes: i64, text: &str| {
        row("DeviceProcessEvents", &[("Timestamp", ago(minutes)), ("ProcessCommandLine", self::text(text))])
    };
    insert(
        store.as_ref(),
        tenant,
        "DeviceProcessEvents",
        vec![
            command(1, awkward),
            command(2, "rundll32.exe C:\\Windows\\System32\\comsvcs.dll, MiniDump 624 C:\\Temp\\lsass.dmp full"),
            command(3, "cmd.exe /c minidumpx and MINIDUMP_TYPE"),
            command(4, "tool.exe --mode=MiniDump"),
            command(5, "café_minidump"),
        ],
    )
    .await;
    insert(store.as_ref(), other, "DeviceProcessEvents", vec![command(1, "MiniDump of another tenant")]).await;
    let run = |query: &'static str| {
        let store = store.clone();
        async move {
            let plan = threatgate_hunting::bind(&threatgate_hunting::parse(query).unwrap()).unwrap();
            let scope = TenantScope::<RunHunting>::for_administrator(tenant);
            store.run_hunt(&scope, &plan, Ticks(now()), LIMITS).await.unwrap().unwrap().rows
        }
    };
    // The bulk paths (multi-row INSERT, COPY) keep every character.
    let rows = run("DeviceProcessEvents | where Timestamp > ago(90s) | project ProcessCommandLine").await;
    assert_eq!(rows, [[serde_json::json!(awkward)]]);
    // `has` through the term index finds whole terms in any case, and only those.
    let rows = run("DeviceProcessEvents | where ProcessCommandLine has \"minidump\" | project ProcessCommandLine | order by ProcessCommandLine asc").await;
    let found: Vec<&str> = rows.iter().map(|r| r[0].as_str().unwrap()).collect();
    assert_eq!(
        found,
        [
            "rundll32.exe C:\\Windows\\System32\\comsvcs.dll, MiniDump 624 C:\\Temp\\lsass.dmp full",
            "tool.exe --mode=MiniDump"
        ]
    );
    let rows = run("DeviceProcessEvents | where ProcessCommandLine has \"MINIDUMP_TYPE\" | count").await;
    assert_eq!(rows, [[serde_json::json!(1)]]);
    let rows = run("DeviceProcessEvents | where ProcessCommandLine has \"lsass.dmp\" | count").await;
    assert_eq!(rows, [[serde_json::json!(1)]], "a term with a dot is not in the index; the scan finds it");
    // `contains` takes `%`, `_` and `\` as themselves (SQLite tests it with `LIKE`).
    for (query, count) in [
        ("DeviceProcessEvents | where ProcessCommandLine contains \"k\\\\sl\" | count", 1),
        ("DeviceProcessEvents | where ProcessCommandLine contains \"%\" | count", 0),
        ("DeviceProcessEvents | where ProcessCommandLine contains \"_\" | count", 2),
        ("DeviceProcessEvents | where ProcessCommandLine contains \"MINIDUMP\" | count", 4),
        ("DeviceProcessEvents | where ProcessCommandLine !contains \"minidump\" | count", 1),
    ] {
        assert_eq!(run(query).await, [[serde_json::json!(count)]], "{query}");
    }
}

pub(crate) async fn hunting_stops_a_query_at_its_timeout_and_frees_its_connection(store: Arc<dyn Store>) {
    let tenant = TenantId::from_uuid(Uuid::new_v4());
    let rows =
        (0..3000).map(|i| row("DeviceProcessEvents", &[("Timestamp", ago(i)), ("ActionType", text("ProcessCreated"))]));
    insert(store.as_ref(), tenant, "DeviceProcessEvents", rows.collect()).await;
    let scope = TenantScope::<RunHunting>::for_administrator(tenant);
    // 27 billion joined rows: it never finishes on its own.
    let endless = "DeviceProcessEvents | join kind=inner (DeviceProcessEvents) on ActionType | join kind=inner (DeviceProcessEvents) on ActionType | count";
    let endless = threatgate_hunting::bind(&threatgate_hunting::parse(endless).unwrap()).unwrap();
    let short = HuntLimits { timeout: Duration::from_millis(200), ..LIMITS };
    // More timeouts than the pool has connections: each statement must really stop, or the
    // later ones would find no free connection.
    for _ in 0..6 {
        assert_eq!(store.run_hunt(&scope, &endless, Ticks(now()), short).await.unwrap(), Err(HuntRefusal::Timeout));
    }
    let count = threatgate_hunting::bind(&threatgate_hunting::parse("DeviceProcessEvents | count").unwrap()).unwrap();
    let output = store.run_hunt(&scope, &count, Ticks(now()), LIMITS).await.unwrap().unwrap();
    assert_eq!(output.rows, [[serde_json::json!(3000)]], "the connections work on afterwards");
}

/// The deepest and largest queries the binder accepts also compile and run: the limits of
/// `threatgate_hunting` are within what SQLite's parser and PostgreSQL's planner take.
pub(crate) async fn hunting_runs_the_largest_queries_the_limits_accept(store: Arc<dyn Store>) {
    let (tenant, other) = (TenantId::from_uuid(Uuid::new_v4()), TenantId::from_uuid(Uuid::new_v4()));
    dataset(store.as_ref(), tenant, other).await;
    let scope = TenantScope::<RunHunting>::for_administrator(tenant);
    let deepest_expression = vec!["1"; threatgate_hunting::MAX_EXPRESSION_DEPTH - 2].join(" + ");
    let values: Vec<String> = (0..3_000).map(|i| format!("'device-{i}'")).collect();
    let queries = [
        // Operators nested as deep as accepted, each with the deepest expression.
        format!(
            "DeviceProcessEvents{} | count",
            format!(" | where {deepest_expression} > 0").repeat(threatgate_hunting::MAX_PLAN_DEPTH - 2)
        ),
        // Lets nested as deep as accepted (each copies the ones before it, so they filter
        // rather than extend: an extend carries every column).
        format!(
            "let l0 = DeviceProcessEvents;{} l{} | count",
            (1..threatgate_hunting::MAX_PLAN_DEPTH - 1)
                .map(|i| format!("let l{i} = l{} | where {} > 0;", i - 1, vec!["1"; 20].join(" + ")))
                .collect::<String>(),
            threatgate_hunting::MAX_PLAN_DEPTH - 2
        ),
        // A long list of values and a long chain of conditions.
        format!(
            "DeviceProcessEvents | where DeviceName in ({}) or {} | count",
            values.join(", "),
            vec!["FileName == 'x.exe'"; 1_500].join(" or ")
        ),
    ];
    for query in &queries {
        let plan = threatgate_hunting::parse(query)
            .and_then(|q| threatgate_hunting::bind(&q))
            .unwrap_or_else(|e| panic!("{}", e.describe(query)));
        let output = store.run_hunt(&scope, &plan, Ticks(now()), LIMITS).await.unwrap().unwrap();
        assert_eq!(output.rows.len(), 1, "{}", &query[..80]);
    }
}

/// A sink that says stop ends the query there: no further row is read.
pub(crate) async fn hunting_stops_reading_rows_when_the_sink_says_so(store: Arc<dyn Store>) {
    let (tenant, other) = (TenantId::from_uuid(Uuid::new_v4()), TenantId::from_uuid(Uuid::new_v4()));
    dataset(store.as_ref(), tenant, other).await;
    let scope = TenantScope::<RunHunting>::for_administrator(tenant);
    let plan = threatgate_hunting::bind(&threatgate_hunting::parse("DeviceProcessEvents").unwrap()).unwrap();
    let mut seen = 0;
    let mut sink = |_row| {
        seen += 1;
        seen < 3
    };
    let outcome = store.stream_hunt(&scope, &plan, Ticks(now()), LIMITS, &mut sink).await.unwrap();
    assert_eq!(outcome, Err(HuntRefusal::Stopped));
    assert_eq!(seen, 3);
}

/// Client mistakes that only the database notices (arithmetic out of range, division by zero,
/// values that do not convert) are refusals with a message, never store errors (a 500); the
/// binder refuses what it can see (an invalid regular expression).
pub(crate) async fn hunting_client_mistakes_found_while_running_are_refusals(store: Arc<dyn Store>) {
    let (tenant, other) = (TenantId::from_uuid(Uuid::new_v4()), TenantId::from_uuid(Uuid::new_v4()));
    dataset(store.as_ref(), tenant, other).await;
    let scope = TenantScope::<RunHunting>::for_administrator(tenant);
    for query in [
        "DeviceProcessEvents | where FileName matches regex '('",
        "DeviceProcessEvents | where FileName matches regex '(?<=a)b'",
        "DeviceProcessEvents | where FileName matches regex ProcessCommandLine",
        "DeviceProcessEvents | extend x = FileSize * 9223372036854775807",
        "DeviceProcessEvents | extend x = FileSize - 9223372036854775807 - 2",
        "DeviceProcessEvents | extend x = FileSize / 0",
        "DeviceProcessEvents | extend x = FileSize % 0",
        "DeviceProcessEvents | extend y = split(FileName, '\"')",
        "DeviceProcessEvents | extend y = split(FileName, '\\\\')",
        "DeviceProcessEvents | extend y = split(FileName, '')",
        "DeviceProcessEvents | extend y = toint('99999999999999999999')",
        "DeviceProcessEvents | extend y = tolong('1e400')",
        "DeviceProcessEvents | extend y = substring(FileName, -5, -1)",
        "DeviceProcessEvents | extend y = strcat(FileName, FileName) | summarize count() by y",
    ] {
        let Ok(plan) = threatgate_hunting::parse(query).and_then(|q| threatgate_hunting::bind(&q)) else {
            continue;
        };
        match store.run_hunt(&scope, &plan, Ticks(now()), LIMITS).await {
            Ok(Ok(_)) => {}
            Ok(Err(HuntRefusal::Invalid(message))) => assert!(!message.is_empty(), "{query}"),
            other => panic!("{query}: {:?}", other.map(|outcome| outcome.map(|output| output.rows.len()))),
        }
    }
}
