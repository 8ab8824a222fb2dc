//! The size limits that keep any query's cost bounded (issue 16, findings 1 and 2): trees built
//! by loops (operator chains, pipelines) and by `let` expansion are refused with a message that
//! names the limit, before they can exhaust the stack or the memory.
#![allow(
    clippy::panic,
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test helpers fail the test with the query in the message"
)]

use proptest::prelude::*;
use threatgate_hunting::{
    ErrorKind, MAX_EXPRESSION_DEPTH, MAX_LET_EXPANSION, MAX_PLAN_DEPTH, MAX_PLAN_NODES, bind, parse,
};

/// Parses and binds; the error's kind and message.
fn refusal(query: &str) -> (ErrorKind, String) {
    let error = parse(query).and_then(|q| bind(&q)).expect_err("refused");
    (error.kind, error.message)
}

fn accepted(query: &str) {
    parse(query).and_then(|q| bind(&q)).unwrap_or_else(|e| panic!("{}: {}", &query[..query.len().min(80)], e));
}

#[test]
fn a_long_arithmetic_chain_is_refused_by_its_depth() {
    // The audit's query: 3,000 terms, ~6 KB, aborted the process with a stack overflow.
    let query = format!("DeviceInfo | extend x = {} | take 1", vec!["1"; 3_000].join("+"));
    let (kind, message) = refusal(&query);
    assert_eq!(kind, ErrorKind::Limit);
    assert!(message.contains(&format!("more than {MAX_EXPRESSION_DEPTH} levels")), "{message}");
    // Within the limit it runs.
    accepted(&format!("DeviceInfo | extend x = {} | take 1", vec!["1"; 90].join("+")));
}

#[test]
fn long_and_or_chains_are_balanced_and_accepted() {
    for op in [" and ", " or "] {
        let chain = vec!["DeviceName == 'x'"; 3_000].join(op);
        accepted(&format!("DeviceInfo | where {chain} | take 1"));
    }
    let query = format!("DeviceInfo | where {}", vec!["true"; 4_096].join(" or "));
    let parsed = parse(&query).expect("parses");
    let threatgate_hunting::ast::OperatorKind::Where(predicate) = &parsed.body.operators[0].kind else {
        panic!("a where")
    };
    assert_eq!(predicate.depth(), 13, "4,096 operands: 12 levels of 'or' and the operands");
}

#[test]
fn thousands_of_pipes_are_refused_by_the_plan_depth() {
    let query = format!("DeviceInfo{} | take 1", " | where true".repeat(3_000));
    let (kind, message) = refusal(&query);
    assert_eq!(kind, ErrorKind::Limit);
    assert!(message.contains(&format!("more than {MAX_PLAN_DEPTH} operators")), "{message}");
    accepted(&format!("DeviceInfo{} | take 1", " | where true".repeat(MAX_PLAN_DEPTH - 2)));
}

#[test]
fn lets_that_double_are_refused_before_they_grow() {
    // The audit's ~500-byte query: twenty doublings exhausted the memory.
    let mut query = String::from("let a0 = DeviceInfo;\n");
    for i in 1..=20 {
        query.push_str(&format!("let a{i} = union a{}, a{};\n", i - 1, i - 1));
    }
    query.push_str("a20 | take 1");
    let (kind, message) = refusal(&query);
    assert_eq!(kind, ErrorKind::Limit);
    assert!(message.contains(&format!("larger than {MAX_PLAN_NODES} plan nodes")), "{message}");

    // The same with scalars.
    let mut query = String::from("let s0 = 1;\n");
    for i in 1..=40 {
        query.push_str(&format!("let s{i} = s{} + s{};\n", i - 1, i - 1));
    }
    query.push_str("DeviceInfo | extend x = s40");
    assert_eq!(refusal(&query).0, ErrorKind::Limit);

    // And lets that nest deeper than a query may.
    let mut query = String::from("let b0 = DeviceInfo;\n");
    for i in 1..=200 {
        query.push_str(&format!("let b{i} = b{} | where true;\n", i - 1));
    }
    query.push_str("b200");
    assert!(refusal(&query).1.contains("operators, lets and sub-queries"));
}

#[test]
fn copies_of_lets_are_bounded_even_when_the_plan_stays_small() {
    // A let of about 7,500 nodes, copied by lets that are never used: the final plan is one
    // table, but each copy costs memory and time.
    let values: Vec<String> = (0..7_500).map(|i| format!("'d{i}'")).collect();
    let mut query = format!("let big = DeviceInfo | where DeviceName in ({});\n", values.join(", "));
    for i in 0..MAX_LET_EXPANSION / 7_500 + 1 {
        query.push_str(&format!("let u{i} = big | take 1;\n"));
    }
    query.push_str("DeviceInfo | take 1");
    let (kind, message) = refusal(&query);
    assert_eq!(kind, ErrorKind::Limit);
    assert!(message.contains(&format!("copies more than {MAX_LET_EXPANSION} plan nodes")), "{message}");

    // A chain of lets, each reading the one before, is copied quadratically and accepted.
    let mut query = String::from("let l0 = DeviceInfo;\n");
    for i in 1..=40 {
        query.push_str(&format!("let l{i} = l{} | extend x{i} = {};\n", i - 1, vec!["1"; 20].join(" + ")));
    }
    query.push_str("l40 | take 1");
    accepted(&query);
}

#[test]
fn refusals_say_they_are_limits() {
    let query = format!("DeviceInfo{}", " | where true".repeat(3_000));
    let described = parse(&query).and_then(|q| bind(&q)).expect_err("refused").describe(&query);
    assert!(described.starts_with("Query exceeds a limit: the query nests more than"), "{described}");
}

/// A random query built by loops: chains of operators, pipes, nested parentheses and lets,
/// of random lengths up to far past every limit.
fn loop_built_query() -> impl Strategy<Value = String> {
    let chain =
        (prop_oneof![Just("+"), Just("*"), Just(" and "), Just(" or "), Just(" == "), Just("-")], 1..5_000_usize)
            .prop_map(|(op, n)| vec!["1"; n].join(op));
    let nested = (0..200_usize).prop_map(|n| format!("{}1{}", "(".repeat(n), ")".repeat(n)));
    let calls = (0..200_usize).prop_map(|n| format!("{}1{}", "abs(".repeat(n), ")".repeat(n)));
    let negations = (0..200_usize).prop_map(|n| format!("{}1", "-".repeat(n)));
    let expression = prop_oneof![chain, nested, calls, negations];
    let pipes = (0..300_usize).prop_map(|n| " | where true".repeat(n));
    let lets = (0..30_usize)
        .prop_map(|n| (1..=n).map(|i| format!("let t{i} = union t{}, t{};", i - 1, i - 1)).collect::<String>());
    (expression, pipes, lets).prop_map(|(expression, pipes, lets)| {
        format!("let t0 = DeviceInfo;{lets}\nt0 | extend x = {expression}{pipes} | take 1")
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Whatever the loops build, parsing and binding answer (a plan within the limits, or a
    /// refusal) on a 2 MiB stack, a Tokio worker's by default, even unoptimised (the deepest
    /// accepted queries need about 1.5 MiB in a debug build, 256 KiB in a release build; the
    /// server's runtime gives its threads 8 MiB).
    #[test]
    fn queries_built_by_loops_are_bounded(query in loop_built_query()) {
        let outcome = std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(move || match parse(&query).and_then(|q| bind(&q)) {
                Ok(plan) => {
                    let extent = plan.extent();
                    assert!(extent.nodes <= MAX_PLAN_NODES && extent.relation_depth <= MAX_PLAN_DEPTH);
                    assert!(extent.expression_depth <= MAX_EXPRESSION_DEPTH);
                }
                Err(error) => {
                    let _ = error.describe(&query);
                }
            })
            .expect("thread")
            .join();
        prop_assert!(outcome.is_ok());
    }
}

#[test]
fn invalid_regular_expressions_are_refused_where_they_are_written() {
    for (pattern, reason) in [
        ("(", "unclosed group"),
        ("(?<=a)b", "look-around"),
        ("a{2,1}", "invalid repetition"),
        ("(a{1000}){1000}", "too large"),
    ] {
        let query = format!("DeviceInfo | where DeviceName matches regex @'{pattern}'");
        let error = parse(&query).and_then(|q| bind(&q)).expect_err(&query);
        assert_eq!(error.kind, ErrorKind::Semantic, "{query}");
        let message = error.describe(&query);
        assert!(message.contains("the regular expression is not valid"), "{message}");
        assert!(message.contains(reason), "{pattern}: {message}");
        assert!(message.ends_with("[line:position=1:45]"), "it points at the pattern: {message}");
    }
    accepted("DeviceInfo | where DeviceName matches regex @'^ws-\\d+$' | take 1");
}
