//! The KQL parser on the queries partners write, the errors it gives, and arbitrary text.
#![allow(clippy::panic, clippy::expect_used, reason = "test helpers fail the test with the query in the message")]

use proptest::prelude::*;
use threatgate_hunting::ast::{
    BinaryOp, Expr, ExprKind, JoinKey, LetValue, Literal, OperatorKind, Pipeline, Source, TextOp,
};
use threatgate_hunting::{ErrorKind, parse};

fn operators(query: &str) -> Vec<OperatorKind> {
    parse(query)
        .unwrap_or_else(|e| panic!("{query}: {}", e.describe(query)))
        .body
        .operators
        .into_iter()
        .map(|o| o.kind)
        .collect()
}

fn name(expr: &Expr) -> &str {
    match &expr.kind {
        ExprKind::Name(name) => name,
        other => panic!("not a name: {other:?}"),
    }
}

#[test]
fn the_spec_example_query() {
    let query = r#"DeviceProcessEvents | where InitiatingProcessFileName =~ "powershell.exe" | project Timestamp, FileName, InitiatingProcessFileName | order by Timestamp desc | limit 2"#;
    let parsed = parse(query).expect("parses");
    assert_eq!(
        parsed.body.source,
        Source::Named(threatgate_hunting::ast::Ident {
            name: "DeviceProcessEvents".into(),
            span: threatgate_hunting::Span::new(0, 19)
        })
    );
    let ops = operators(query);
    assert_eq!(ops.len(), 4);
    let OperatorKind::Where(filter) = &ops[0] else { panic!("where") };
    let ExprKind::Binary { op: BinaryOp::EqCi, left, right } = &filter.kind else { panic!("=~") };
    assert_eq!(name(left), "InitiatingProcessFileName");
    assert_eq!(right.kind, ExprKind::Literal(Literal::String("powershell.exe".into())));
    let OperatorKind::Project(columns) = &ops[1] else { panic!("project") };
    assert_eq!(
        columns.iter().map(|c| name(&c.expr)).collect::<Vec<_>>(),
        ["Timestamp", "FileName", "InitiatingProcessFileName"]
    );
    let OperatorKind::Sort(keys) = &ops[2] else { panic!("order by") };
    assert!(keys[0].descending);
    assert_eq!(
        ops[3],
        OperatorKind::Take(Expr {
            kind: ExprKind::Literal(Literal::Long(2)),
            span: threatgate_hunting::Span::new(165, 166)
        })
    );
}

#[test]
fn the_issue_benchmark_queries() {
    let a = operators(
        r#"DeviceProcessEvents | where Timestamp > ago(1d) | where FileName =~ "powershell.exe" | summarize count() by DeviceName | top 10 by count_"#,
    );
    let OperatorKind::Summarize { aggregates, by } = &a[2] else { panic!("summarize") };
    assert!(
        matches!(&aggregates[0].expr.kind, ExprKind::Call { name, args } if name.name == "count" && args.is_empty())
    );
    assert_eq!(name(&by[0].expr), "DeviceName");
    let OperatorKind::Top { count, key } = &a[3] else { panic!("top") };
    assert_eq!(count.kind, ExprKind::Literal(Literal::Long(10)));
    assert!(key.descending);

    let b = operators(
        r#"DeviceProcessEvents | where Timestamp > ago(7d) | where ProcessCommandLine has "mimikatz" | project Timestamp, DeviceName, ProcessCommandLine | take 1000"#,
    );
    let OperatorKind::Where(has) = &b[1] else { panic!("where") };
    assert!(matches!(has.kind, ExprKind::Binary { op: BinaryOp::Text { op: TextOp::Has, negated: false }, .. }));

    let c = operators(
        r#"DeviceProcessEvents | where Timestamp > ago(1d) and FileName =~ "powershell.exe" | join kind=inner (DeviceNetworkEvents | where Timestamp > ago(1d) and RemotePort == 443) on DeviceId | summarize dcount(RemoteIP) by DeviceName | top 10 by dcount_RemoteIP"#,
    );
    let OperatorKind::Join { kind, right, on } = &c[1] else { panic!("join") };
    assert_eq!(kind.as_ref().map(|k| k.name.as_str()), Some("inner"));
    assert_eq!(right.operators.len(), 1);
    assert!(matches!(&on[0], JoinKey::Same(id) if id.name == "DeviceId"));
}

#[test]
fn lets_comments_joins_and_unions() {
    let query = r#"
        // Devices that talked to a known bad address
        let bad = dynamic(["10.0.0.1", "10.0.0.2"]);
        let since = ago(2d);
        let Net = DeviceNetworkEvents | where Timestamp > since;
        let T = DeviceInfo;
        Net
        | where RemoteIP in (bad) or RemoteIP in~ ("A", 'b') and RemotePort !in (80, 443)
        | join kind=leftouter (DeviceInfo | project DeviceId, Os = OSPlatform) on $left.DeviceId == $right.DeviceId
        | union (DeviceLogonEvents | take 5), DeviceFileEvents
        | extend Hour = bin(Timestamp, 1h), Label = iff(RemotePort between (1 .. 1024), "low", "high")
        | project-rename Device = DeviceName
        | project-away LocalIP, LocalPort
        | distinct Device, Hour
        | sort by Hour asc nulls first, Device
        | count
    "#;
    let parsed = parse(query).expect("parses");
    assert_eq!(parsed.lets.len(), 4);
    assert!(
        matches!(&parsed.lets[0].value, LetValue::Scalar(Expr { kind: ExprKind::Dynamic(items), .. }) if items.len() == 2)
    );
    assert!(matches!(&parsed.lets[2].value, LetValue::Tabular(Pipeline { operators, .. }) if operators.len() == 1));
    // A bare name is a scalar until names are resolved.
    assert!(matches!(&parsed.lets[3].value, LetValue::Scalar(e) if name(e) == "DeviceInfo"));
    let ops: Vec<_> = parsed.body.operators.into_iter().map(|o| o.kind).collect();
    let OperatorKind::Where(filter) = &ops[0] else { panic!("where") };
    // `and` binds tighter than `or`.
    let ExprKind::Binary { op: BinaryOp::Or, right, .. } = &filter.kind else { panic!("or at the top") };
    assert!(matches!(right.kind, ExprKind::Binary { op: BinaryOp::And, .. }));
    let OperatorKind::Join { on, .. } = &ops[1] else { panic!("join") };
    assert!(matches!(&on[0], JoinKey::Pair { left, right } if left.name == "DeviceId" && right.name == "DeviceId"));
    let OperatorKind::Union(legs) = &ops[2] else { panic!("union") };
    assert_eq!(legs.len(), 2);
    let OperatorKind::Sort(keys) = &ops[7] else { panic!("sort") };
    assert_eq!((keys[0].descending, keys[0].nulls_first, keys[1].descending), (false, Some(true), true));
    assert_eq!(ops[8], OperatorKind::Count);
}

#[test]
fn literals() {
    let ops = operators(
        r#"T | where A == -5 and B == 1.5e2 and C > ago(-1h) and D == true and E == datetime(2024-05-01) and F == @"c:\x" and G == long(null) and H == time(1)"#,
    );
    let OperatorKind::Where(filter) = &ops[0] else { panic!() };
    let mut literals = Vec::new();
    collect_literals(filter, &mut literals);
    assert_eq!(
        literals,
        [
            Literal::Long(-5),
            Literal::Real(150.0),
            Literal::Timespan(-36_000_000_000),
            Literal::Bool(true),
            Literal::DateTime(threatgate_domain_ticks("2024-05-01T00:00:00Z")),
            Literal::String(r"c:\x".into()),
            // long(null) is a typed null (see collect_literals).
            Literal::String("null:long".into()),
            Literal::Timespan(864_000_000_000),
        ]
    );
}

fn threatgate_domain_ticks(text: &str) -> i64 {
    // 2024-05-01T00:00:00Z in ticks since the Unix epoch.
    assert_eq!(text, "2024-05-01T00:00:00Z");
    1_714_521_600 * 10_000_000
}

fn collect_literals(expr: &Expr, out: &mut Vec<Literal>) {
    match &expr.kind {
        ExprKind::Literal(l) => out.push(l.clone()),
        ExprKind::TypedNull(ty) => out.push(Literal::String(format!("null:{}", ty.kql_name()))),
        ExprKind::Binary { left, right, .. } => {
            collect_literals(left, out);
            collect_literals(right, out);
        }
        ExprKind::Call { args, .. } => args.iter().for_each(|a| collect_literals(a, out)),
        _ => {}
    }
}

#[test]
fn every_string_operator() {
    for (word, op, negated) in [
        ("contains", TextOp::Contains, false),
        ("!contains", TextOp::Contains, true),
        ("contains_cs", TextOp::ContainsCs, false),
        ("!contains_cs", TextOp::ContainsCs, true),
        ("has", TextOp::Has, false),
        ("!has", TextOp::Has, true),
        ("startswith", TextOp::StartsWith, false),
        ("!startswith", TextOp::StartsWith, true),
        ("endswith", TextOp::EndsWith, false),
        ("!endswith", TextOp::EndsWith, true),
        ("matches regex", TextOp::MatchesRegex, false),
    ] {
        let query = format!("T | where A {word} 'x'");
        let ops = operators(&query);
        let OperatorKind::Where(filter) = &ops[0] else { panic!() };
        assert!(
            matches!(filter.kind, ExprKind::Binary { op: BinaryOp::Text { op: o, negated: n }, .. } if o == op && n == negated),
            "{query}"
        );
    }
    let ops = operators("T | where A has_any ('a', 'b') and not(isempty(B)) and C !between (1 .. 2)");
    let OperatorKind::Where(filter) = &ops[0] else { panic!() };
    let ExprKind::Binary { left, right, .. } = &filter.kind else { panic!() };
    assert!(matches!(&right.kind, ExprKind::Between { negated: true, .. }));
    let ExprKind::Binary { left, right, .. } = &left.kind else { panic!() };
    assert!(matches!(&left.kind, ExprKind::HasAny { list, all: false, negated: false, .. } if list.len() == 2));
    assert!(matches!(&right.kind, ExprKind::Call { name, args } if name.name == "not" && args.len() == 1));
}

#[test]
fn arithmetic_precedence() {
    let ops = operators("T | extend X = 1 + 2 * 3 - 4 % 3, Y = (1 + 2) * 3");
    let OperatorKind::Extend(items) = &ops[0] else { panic!() };
    let ExprKind::Binary { op: BinaryOp::Sub, left, .. } = &items[0].expr.kind else { panic!("- last") };
    let ExprKind::Binary { op: BinaryOp::Add, right, .. } = &left.kind else { panic!("+ before -") };
    assert!(matches!(right.kind, ExprKind::Binary { op: BinaryOp::Mul, .. }));
    assert!(
        matches!(&items[1].expr.kind, ExprKind::Binary { op: BinaryOp::Mul, left, .. } if matches!(left.kind, ExprKind::Binary { op: BinaryOp::Add, .. }))
    );
    assert_eq!(items[1].name.as_ref().map(|n| n.name.as_str()), Some("Y"));
}

/// The error's kind, its message and its `line:column`.
fn error(query: &str) -> (ErrorKind, String, (usize, usize)) {
    let e = parse(query).expect_err(query);
    (e.kind, e.message.clone(), e.position(query))
}

#[test]
fn syntax_errors_say_what_was_expected_and_where() {
    assert_eq!(
        error("DeviceInfo | wher DeviceName == 'x'"),
        (ErrorKind::Syntax, "'wher' is not a tabular operator".into(), (1, 14))
    );
    assert_eq!(
        error("DeviceInfo |"),
        (ErrorKind::Syntax, "expected an operator after '|', found the end of the query".into(), (1, 13))
    );
    assert_eq!(
        error("DeviceInfo\n| where (A == 1"),
        (ErrorKind::Syntax, "expected ')', found the end of the query".into(), (2, 16))
    );
    assert_eq!(
        error("DeviceInfo | project A,"),
        (ErrorKind::Syntax, "expected an expression, found the end of the query".into(), (1, 24))
    );
    // A query without lets never mentions lets.
    assert_eq!(error("DeviceInfo | take 5 5"), (ErrorKind::Syntax, "expected '|' or the end of the query, found '5' (a query runs one tabular expression; separate queries are run one at a time)".into(), (1, 21)));
    assert_eq!(
        error("let n = 5; DeviceInfo | take n DeviceInfo").1,
        "expected '|' or the end of the query, found 'DeviceInfo' (only one tabular expression may follow the let statements)"
    );
    assert_eq!(
        error("let x = 5\nT"),
        (ErrorKind::Syntax, "expected ';' after the let statement, found 'T'".into(), (2, 1))
    );
    assert_eq!(
        error("T | summarize"),
        (
            ErrorKind::Syntax,
            "expected an aggregation or 'by' after summarize, found the end of the query".into(),
            (1, 14)
        )
    );
    assert_eq!(error("T | join (U) DeviceId").1, "expected 'on', found 'DeviceId'");
    assert_eq!(error("T | where A == $left.B").1, "$left may appear only in a join's 'on' clause");
    assert_eq!(error("").1, "the query has no tabular expression to run");
    let (kind, message, at) = error("T | where Name == 'x' and\n    Time > datetime(yesterday)");
    assert_eq!(
        (kind, message.as_str(), at),
        (ErrorKind::Syntax, "'yesterday' is not a datetime (e.g. 2024-05-01 or 2024-05-01T10:00:00Z)", (2, 12))
    );
    let described = parse("DeviceInfo | wher x").expect_err("typo").describe("DeviceInfo | wher x");
    assert_eq!(
        described,
        "Syntax error: A recognition error occurred. 'wher' is not a tabular operator [line:position=1:14]"
    );
}

#[test]
fn unsupported_syntax_says_what_is_unsupported() {
    for (query, message) in [
        ("T | mv-expand X, Y", "mv-expand of several columns at once is not supported"),
        ("T | parse kind=regex X with * 'a' Y", "parse kind=regex is not supported (simple is)"),
        ("T | mv-apply X on (take 1)", "the 'mv-apply' operator is not supported"),
        ("T | evaluate autocluster()", "the 'autocluster' plugin is not supported (bag_unpack is)"),
        (
            "T | evaluate bag_unpack(X, 'p', 'replace_source')",
            "bag_unpack's columnsConflict and ignoredProperties are not supported",
        ),
        (
            "T | top-nested 3 of A by count(), top-nested 2 of B by count()",
            "top-nested with more than one level is not supported",
        ),
        ("T | top-nested 3 of A with others = 'x' by count()", "top-nested … with others is not supported"),
        ("let f = (a:long) { a + 1 };\nT", "user-defined functions (let f = (…) { … }) are not supported"),
        ("find in (T) where x == 1", "'find' is not supported as a source of rows; start from a table"),
        ("print x = range(1, 5, 1)", "'range' is not supported"),
        (
            "let f = (externaldata(a:string) [@'https://x'])",
            "externaldata is not available: Threatgate reads no external URLs or storage; put the rows in a datatable or ingest them (POST /api/ingest/events/{Table})",
        ),
        ("union withsource=T A, B", "union withsource= is not supported"),
        ("union kind=inner A, B", "union kind=inner is not supported (kind=outer and isfuzzy= are)"),
        ("T | where A in (U | project A)", "'in' with a sub-query is not supported; list the values"),
        ("T | top 5 by A with others = 'x'", "top … with others is not supported"),
    ] {
        let (kind, got, _) = error(query);
        assert_eq!((kind, got.as_str()), (ErrorKind::Unsupported, message), "{query}");
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let nested = "the query nests parentheses, sub-queries and operators more than 64 deep";
    let query = format!("T | where {}1{}", "(".repeat(10_000), ")".repeat(10_000));
    let (kind, message, _) = error(&query);
    assert_eq!((kind, message.as_str()), (ErrorKind::Limit, nested));
    let query = format!("T | where {}1", "-".repeat(10_000));
    assert_eq!(error(&query).1, nested);
    let query = format!("T | where A == '{}'", "x".repeat(100_000));
    assert_eq!(error(&query).1, "the query is longer than 100000 bytes");
}

/// Fragments of KQL, so that generated text is often nearly valid and reaches deep paths.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("DeviceProcessEvents".to_string()),
        Just("DeviceNetworkEvents | where RemotePort == 443".to_string()),
        Just("summarize arg_max(Timestamp, *) by DeviceId".to_string()),
        Just("extend X = iff(A, 1, 2.5)".to_string()),
        Just("DeviceName".to_string()),
        Just(" | ".to_string()),
        Just("where ".to_string()),
        Just("project A, B = 1".to_string()),
        Just("summarize count() by X".to_string()),
        Just("join kind=inner (".to_string()),
        Just(") on $left.A == $right.B".to_string()),
        Just("let x = ".to_string()),
        Just(";".to_string()),
        Just("A =~ 'x'".to_string()),
        Just(" and ".to_string()),
        Just(" !has \"".to_string()),
        Just("datetime(".to_string()),
        Just("dynamic([".to_string()),
        Just("between (1 .. ".to_string()),
        Just("1d".to_string()),
        Just("@'".to_string()),
        Just("(".to_string()),
        Just(")".to_string()),
        Just("[".to_string()),
        "[ -~]{0,6}",
        "\\PC{0,3}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        if let Err(e) = parse(&text) {
            prop_assert!(e.span.start <= text.len());
            let _ = e.describe(&text);
        }
    }

    #[test]
    fn near_queries_never_panic(parts in proptest::collection::vec(fragment(), 0..24)) {
        let text: String = parts.concat();
        match parse(&text) {
            Err(e) => {
                prop_assert!(e.span.start <= text.len() && e.span.end <= text.len(), "{:?} outside {}", e.span, text.len());
                let _ = e.describe(&text);
            }
            // Whatever parses, binding answers (a plan or an error), without panicking.
            Ok(query) => {
                if let Err(e) = threatgate_hunting::bind(&query) {
                    prop_assert!(e.span.end <= text.len());
                }
            }
        }
    }
}

#[test]
fn unicode_spaces_from_web_pages_are_whitespace() {
    for space in ['\u{00A0}', '\u{200B}', '\u{202F}', '\u{2003}', '\u{3000}', '\u{FEFF}'] {
        let text = format!("DeviceInfo{space}|{space}where{space}OSBuild{space}>{space}1");
        assert!(threatgate_hunting::parse(&text).is_ok(), "U+{:04X}", space as u32);
    }
    // Other characters outside ASCII are still refused where they cannot be.
    let error = threatgate_hunting::parse("DeviceInfo | where OSBuild > 1 \u{2022}").expect_err("a bullet");
    assert!(error.message.starts_with("unexpected character"), "{}", error.message);
}

#[test]
fn property_and_element_accesses_chain() {
    let ops = operators(r#"T | extend a = parse_url(U).Host, b = X["k"][0].c, d = split(P, "\\")[-1]"#);
    let OperatorKind::Extend(items) = &ops[0] else { panic!("{:?}", ops[0]) };
    let shapes: Vec<String> = items
        .iter()
        .map(|item| {
            fn shape(expr: &Expr) -> String {
                match &expr.kind {
                    ExprKind::Member { target, name } => format!("{}.{}", shape(target), name.name),
                    ExprKind::Index { target, index } => format!("{}[{}]", shape(target), shape(index)),
                    ExprKind::Name(name) => name.clone(),
                    ExprKind::Call { name, .. } => format!("{}()", name.name),
                    ExprKind::Literal(Literal::String(s)) => format!("{s:?}"),
                    ExprKind::Literal(Literal::Long(n)) => n.to_string(),
                    other => format!("{other:?}"),
                }
            }
            shape(&item.expr)
        })
        .collect();
    assert_eq!(shapes, [r#"parse_url().Host"#, r#"X["k"][0].c"#, r#"split()[-1]"#]);
}
