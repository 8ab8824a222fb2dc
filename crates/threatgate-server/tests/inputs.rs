//! Every parser of outside input takes large, deep and random text and answers with a value or
//! a refusal, never a panic or a stack overflow: OData query options, and the JSON bodies of
//! alert and event ingestion and of incident updates. (KQL has its own in
//! `threatgate-hunting/tests/limits.rs`.) Each case runs on a thread with a 1 MiB stack, an
//! eighth of the 8 MiB the server's threads have (serde_json's nesting limit of 128 needs
//! about 300 KiB in a debug build), so that a recursion the limits do not bound fails here
//! first.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use proptest::prelude::*;
use threatgate_domain::odata::{IncidentQuery, parse_filter};
use threatgate_hunting::schema;
use threatgate_incidents::IncidentUpdate;

/// Runs `check` on a small stack: a recursion that the input limits do not bound overflows it.
fn on_small_stack(check: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new().stack_size(1024 * 1024).spawn(check).unwrap().join().unwrap();
}

/// Every body parser, fed `body`.
fn parse_body(body: &[u8]) {
    let _ = threatgate_incidents::parse_alerts(body, threatgate_domain::Ticks(0));
    if let Ok(text) = std::str::from_utf8(body) {
        let _ = threatgate_hunting::events::parse_events(schema::table("DeviceProcessEvents").unwrap(), text);
    }
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
        let _ = IncidentUpdate::from_json(&value);
    }
}

/// A term of a `$filter`.
fn term() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("status eq 'Active'".to_owned()),
        Just("assignedTo eq null".to_owned()),
        Just("lastUpdateTime ge 2026-01-01T00:00:00Z".to_owned()),
        Just("not (status ne 'Resolved')".to_owned()),
        Just("createdTime lt 2026-13-45".to_owned()),
        Just("x".to_owned()),
    ]
}

/// JSON nested `depth` levels: arrays, objects, or an alert's fields holding nesting.
fn nested_json() -> impl Strategy<Value = Vec<u8>> {
    (1usize..5_000, 0usize..3).prop_map(|(depth, shape)| {
        let (open, close) = match shape {
            0 => ("[".repeat(depth), "]".repeat(depth)),
            1 => ("{\"a\":".repeat(depth), "}".repeat(depth)),
            _ => (
                format!("[{{\"alertId\":\"x\",\"entities\":{}", "[".repeat(depth)),
                format!("{}}}]", "]".repeat(depth)),
            ),
        };
        format!("{open}1{close}").into_bytes()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Long chains and deep nesting of filter terms, up to past the length limit.
    #[test]
    fn filters_of_any_length_and_depth_are_parsed_or_refused(
        terms in proptest::collection::vec(term(), 1..400),
        joins in proptest::collection::vec(prop_oneof![Just(" and "), Just(" or ")], 400),
        nesting in 0usize..300,
    ) {
        let mut text = String::new();
        for (i, term) in terms.iter().enumerate() {
            if i > 0 {
                text.push_str(joins[i % joins.len()]);
            }
            text.push_str(term);
        }
        let text = format!("{}{text}{}", "(".repeat(nesting), ")".repeat(nesting));
        on_small_stack(move || {
            let parsed = parse_filter(&text);
            if text.chars().count() > 4_096 {
                assert!(parsed.is_err(), "past the length limit");
            }
            if nesting > 32 {
                assert!(parsed.is_err(), "past the nesting limit");
            }
            let _ = IncidentQuery::parse([("$filter", text.as_str()), ("$top", "100"), ("$skip", "18446744073709551616")]);
        });
    }

    /// Random bytes and deeply nested JSON as ingestion and update bodies.
    #[test]
    fn bodies_of_any_shape_are_parsed_or_refused(random in proptest::collection::vec(any::<u8>(), 0..4_096), nested in nested_json()) {
        on_small_stack(move || {
            parse_body(&random);
            parse_body(&nested);
        });
    }
}
