//! Binding: names resolved, types checked, output columns named as KQL names them.
#![allow(clippy::expect_used, clippy::panic, reason = "test helpers fail the test with the query in the message")]

use threatgate_hunting::plan::{Field, JoinKind, Relation};
use threatgate_hunting::schema::Type;
use threatgate_hunting::{ErrorKind, bind, parse};

fn bound(query: &str) -> Relation {
    let parsed = parse(query).expect("parses");
    bind(&parsed).unwrap_or_else(|e| panic!("{query}: {}", e.describe(query)))
}

/// The output columns as `Name:Type` (schema names).
fn columns(query: &str) -> Vec<String> {
    bound(query).fields().iter().map(|Field { name, ty }| format!("{name}:{}", ty.schema_name())).collect()
}

fn error(query: &str) -> (ErrorKind, String, (usize, usize)) {
    let parsed = parse(query).expect("parses");
    let e = bind(&parsed).expect_err("binding fails");
    (e.kind, e.message.clone(), e.position(query))
}

#[test]
fn output_columns_are_named_and_typed_as_kql_does() {
    assert_eq!(
        columns(
            r#"DeviceProcessEvents | where InitiatingProcessFileName =~ "powershell.exe" | project Timestamp, FileName, InitiatingProcessFileName | order by Timestamp desc | limit 2"#
        ),
        ["Timestamp:DateTime", "FileName:String", "InitiatingProcessFileName:String"]
    );
    assert_eq!(
        columns(
            r#"DeviceProcessEvents | where Timestamp > ago(1d) | where FileName =~ "powershell.exe" | summarize count() by DeviceName | top 10 by count_"#
        ),
        ["DeviceName:String", "count_:Int64"]
    );
    assert_eq!(
        columns(
            r#"DeviceProcessEvents | where Timestamp > ago(1d) and FileName =~ "powershell.exe" | join kind=inner (DeviceNetworkEvents | where Timestamp > ago(1d) and RemotePort == 443) on DeviceId | summarize dcount(RemoteIP) by DeviceName | top 10 by dcount_RemoteIP"#
        ),
        ["DeviceName:String", "dcount_RemoteIP:Int64"]
    );
    assert_eq!(
        columns(
            "DeviceNetworkEvents | summarize Calls = count(), countif(RemotePort == 443), sum(RemotePort), avg(RemotePort), max(Timestamp), make_set(RemoteIP) by bin(Timestamp, 1h), DeviceName, tolower(ActionType)"
        ),
        [
            "Timestamp:DateTime",
            "DeviceName:String",
            "Column1:String",
            "Calls:Int64",
            "countif_:Int64",
            "sum_RemotePort:Int64",
            "avg_RemotePort:Double",
            "max_Timestamp:DateTime",
            "set_RemoteIP:Object",
        ]
    );
    assert_eq!(
        columns("DeviceInfo | summarize arg_max(Timestamp, OSPlatform, DeviceName) by DeviceId"),
        ["DeviceId:String", "Timestamp:DateTime", "OSPlatform:String", "DeviceName:String"]
    );
    assert_eq!(columns("DeviceInfo | summarize arg_max(Timestamp, *) by DeviceId").len(), 16);
    assert_eq!(columns("EmailUrlInfo | count"), ["Count:Int64"]);
    assert_eq!(
        columns(
            "EmailUrlInfo | extend UrlDomain = toupper(UrlDomain), Len = strlen(Url), strcat(Url, '/') | project-away ReportId, Timestamp"
        ),
        ["NetworkMessageId:String", "Url:String", "UrlDomain:String", "Len:Int64", "Column1:String"]
    );
    assert_eq!(columns("EmailUrlInfo | project-rename Link = Url | project Link"), ["Link:String"]);
    assert_eq!(columns("EmailUrlInfo | distinct UrlDomain"), ["UrlDomain:String"]);
}

#[test]
fn joins_number_the_right_sides_repeated_columns() {
    let relation = bound(
        "DeviceLogonEvents | project DeviceId, Timestamp | join (DeviceInfo | project DeviceId, OSPlatform, Timestamp) on DeviceId",
    );
    let Relation::Join { kind, on, .. } = &relation else { panic!("a join") };
    assert_eq!((*kind, on.as_slice()), (JoinKind::InnerUnique, &[(0, 0)][..]));
    let names: Vec<String> = relation.fields().into_iter().map(|f| f.name).collect();
    assert_eq!(names, ["DeviceId", "Timestamp", "DeviceId1", "OSPlatform", "Timestamp1"]);
    // A right side that is itself a join keeps its DeviceId1; its DeviceId becomes DeviceId2.
    let nested = bound(
        "DeviceInfo | project DeviceId | join (DeviceInfo | project DeviceId | join (DeviceInfo | project DeviceId) on DeviceId) on DeviceId",
    );
    let names: Vec<String> = nested.fields().into_iter().map(|f| f.name).collect();
    assert_eq!(names, ["DeviceId", "DeviceId2", "DeviceId1"]);
    let anti = bound(
        "DeviceLogonEvents | project DeviceId | join kind=leftanti (DeviceInfo) on $left.DeviceId == $right.DeviceId",
    );
    assert_eq!(anti.fields(), vec![Field { name: "DeviceId".into(), ty: Type::String }]);
}

#[test]
fn lets_and_unions() {
    let relation = bound(
        "let since = ago(7d);\nlet Logons = DeviceLogonEvents | where Timestamp > since;\nlet I = DeviceInfo;\nunion (Logons | project DeviceName, Timestamp), (I | project DeviceName, OSPlatform)",
    );
    assert_eq!(
        relation.fields().into_iter().map(|f| f.name).collect::<Vec<_>>(),
        ["DeviceName", "Timestamp", "OSPlatform"]
    );
    assert_eq!(relation.scans().iter().map(|t| t.name).collect::<Vec<_>>(), ["DeviceLogonEvents", "DeviceInfo"]);
    assert_eq!(
        columns("let bad = dynamic(['a', 'b']);\nDeviceNetworkEvents | where RemoteIP in (bad) | take 1").len(),
        29
    );
}

#[test]
fn unknown_names_are_named_with_their_place() {
    assert_eq!(
        error("DeviceInfo\n| where DeviceNme == 'x'"),
        (ErrorKind::Semantic, "'where' operator: Failed to resolve scalar expression named 'DeviceNme'".into(), (2, 9))
    );
    assert_eq!(
        error("DeviceInfo | project x"),
        (ErrorKind::Semantic, "'project' operator: Failed to resolve scalar expression named 'x'".into(), (1, 22))
    );
    assert_eq!(
        error("deviceinfo | take 1"),
        (
            ErrorKind::Semantic,
            "Failed to resolve table or column expression named 'deviceinfo' (table names are case-sensitive: did you mean 'DeviceInfo'?)".into(),
            (1, 1)
        )
    );
    assert_eq!(error("DeviceEventz | take 1").1, "Failed to resolve table or column expression named 'DeviceEventz'");
    assert_eq!(
        error("DeviceInfo | project-away Nope").1,
        "'project-away' operator: Failed to resolve column named 'Nope'"
    );
    assert_eq!(
        error("DeviceInfo | join (EmailEvents) on DeviceId").1,
        "'join' operator: Failed to resolve column named 'DeviceId'"
    );
    assert_eq!(
        error("DeviceInfo | where frobnicate(DeviceName)").1,
        "'where' operator: Failed to resolve scalar function named 'frobnicate'"
    );
}

#[test]
fn type_and_usage_errors() {
    for (query, message, kind) in [
        (
            "DeviceInfo | where DeviceName",
            "'where' operator: the predicate must be bool, not string",
            ErrorKind::Semantic,
        ),
        (
            "DeviceInfo | where OSBuild > 'x'",
            "'where' operator: cannot compare a long and a string",
            ErrorKind::Semantic,
        ),
        (
            "DeviceInfo | where OSBuild =~ 'x'",
            "'where' operator: =~ and !~ compare strings, not long and string",
            ErrorKind::Semantic,
        ),
        (
            "DeviceInfo | extend X = tolower(OSBuild)",
            "'extend' operator: tolower(): argument 1 must be a string, not long",
            ErrorKind::Semantic,
        ),
        (
            "DeviceInfo | where count() > 1",
            "'where' operator: the aggregation 'count' may be used only in summarize",
            ErrorKind::Semantic,
        ),
        (
            "DeviceInfo | summarize tolower(DeviceName)",
            "'summarize' operator: 'tolower' is not an aggregation (count, countif, dcount, dcountif, sum, sumif, avg, min, max, any, make_set, make_set_if, make_list, make_list_if, arg_max, arg_min, stdev, variance, percentile, percentiles)",
            ErrorKind::Semantic,
        ),
        (
            "DeviceInfo | evaluate bag_unpack(AdditionalFields)",
            "evaluate bag_unpack() without an output schema is not supported (its columns would depend on the data); name them: evaluate bag_unpack(AdditionalFields) : (*, Name:string, …)",
            ErrorKind::Unsupported,
        ),
        (
            "DeviceInfo | evaluate bag_unpack(DeviceName) : (*, a:string)",
            "bag_unpack(): 'DeviceName' must be dynamic, not string",
            ErrorKind::Semantic,
        ),
        (
            "DeviceInfo | take -1",
            "'take' operator: the row count must be a whole number of at least 0",
            ErrorKind::Semantic,
        ),
        (
            "DeviceInfo | join kind=outerfull (DeviceInfo) on DeviceId",
            "'outerfull' is not a join kind",
            ErrorKind::Semantic,
        ),
        (
            "DeviceInfo | project DeviceName, DeviceName",
            "'project' operator: the column 'DeviceName' appears twice",
            ErrorKind::Semantic,
        ),
        (
            "DeviceInfo | where Timestamp > 5",
            "'where' operator: cannot compare a datetime and a long",
            ErrorKind::Semantic,
        ),
        (
            "DeviceInfo | where OSBuild in ('a')",
            "'where' operator: the list holds a string where a long is compared",
            ErrorKind::Semantic,
        ),
        ("let x = 1;\nx | take 1", "'x' is a scalar, not a table", ErrorKind::Semantic),
    ] {
        let (got_kind, got, _) = error(query);
        assert_eq!((got_kind, got.as_str()), (kind, message), "{query}");
    }
}

#[test]
fn timespan_and_datetime_arithmetic() {
    assert_eq!(
        columns(
            "DeviceProcessEvents | project Age = now() - Timestamp, Later = Timestamp + 1h, Half = 1h / 2, Ratio = 1h / 1m, Day = startofday(Timestamp) | where Age between (0s .. 1d) and Later between (datetime(2024-01-01) .. 30d)"
        ),
        ["Age:TimeSpan", "Later:DateTime", "Half:TimeSpan", "Ratio:Double", "Day:DateTime"]
    );
}

#[test]
fn summarize_computes_over_aggregations_only() {
    assert_eq!(
        columns(
            "DeviceNetworkEvents | summarize tostring(make_set(RemoteIP)), round(avg(RemotePort), 1), Rate = sum(RemotePort) / count() by DeviceName"
        ),
        ["DeviceName:String", "set_RemoteIP:String", "avg_RemotePort:Double", "Rate:Int64"]
    );
    // A column outside an aggregation is not in scope, even one grouped by (as in KQL).
    assert_eq!(
        error("DeviceNetworkEvents | summarize strcat(DeviceName, count()) by DeviceName").1,
        "'summarize' operator: Failed to resolve scalar expression named 'DeviceName'"
    );
    assert_eq!(
        error("DeviceNetworkEvents | summarize round(RemotePort, 1)").1,
        "'summarize' operator: 'round' is not an aggregation (count, countif, dcount, dcountif, sum, sumif, avg, min, max, any, make_set, make_set_if, make_list, make_list_if, arg_max, arg_min, stdev, variance, percentile, percentiles)"
    );
}

#[test]
fn datatables_and_dynamic_literals_are_checked() {
    assert_eq!(
        columns(
            "datatable(A:string, B:long, C:dynamic) [\"x\", 1, dynamic({\"k\": [1, {\"n\": null}]}), \"y\", -2, 5,]"
        ),
        ["A:String", "B:Int64", "C:Object"]
    );
    for (query, message) in [
        ("datatable(A:string, B:long) [\"x\"]", "'datatable' operator: 1 values do not make whole rows of 2 columns"),
        ("datatable(A:long) [\"x\"]", "'datatable' operator: a string value in the long column 'A'"),
        ("datatable(A:int) [5000000000]", "'datatable' operator: 5000000000 is out of the range of an int"),
        ("datatable(A:widget) [1]", "'datatable' operator: 'widget' is not a type"),
        ("datatable(A:long) [now()]", "'datatable' operator: values must be literals"),
    ] {
        assert_eq!(error(query).1, message, "{query}");
    }
    let refused = parse("print dynamic({\"a\": x})").expect_err("a name in a dynamic literal");
    assert_eq!(refused.message, "a dynamic literal holds literals, arrays and property bags");
}

#[test]
fn window_functions_need_a_serialized_input() {
    // Unordered rows have no "previous" row: refused, with where to use it instead.
    let (kind, message, _) = error("DeviceProcessEvents | extend p = prev(FileName)");
    assert_eq!(kind, ErrorKind::Semantic);
    assert!(message.contains("prev() needs a serialized input"), "{message}");
    let (_, message, _) = error("DeviceProcessEvents | sort by Timestamp asc | where prev(FileName) == FileName");
    assert!(message.contains("'where' operator: prev() needs a serialized input"), "{message}");
    // After a sort, a top, or serialize: in extend, project and serialize itself.
    for query in [
        "DeviceProcessEvents | sort by Timestamp asc | extend p = prev(FileName), n = row_number()",
        "DeviceProcessEvents | top 5 by Timestamp | project next(FileName, 2, \"-\")",
        "DeviceProcessEvents | serialize n = row_number(0) | where n > 3",
        "DeviceProcessEvents | sort by Timestamp asc | where FileName != \"\" | extend p = prev(Timestamp)",
    ] {
        bound(query);
    }
    assert_eq!(
        columns(
            "DeviceNetworkEvents | sort by Timestamp asc | project RemotePort, p = prev(RemotePort), n = row_number()"
        ),
        ["RemotePort:Int32", "p:Int32", "n:Int64"]
    );
    // A whole-number default for a datetime is its ticks, as Kusto accepts it.
    assert_eq!(
        columns("DeviceInfo | sort by Timestamp asc | project Gap = Timestamp - next(Timestamp, 1, 0)"),
        ["Gap:TimeSpan"]
    );
    // An aggregation forgets the order.
    let (_, message, _) =
        error("DeviceProcessEvents | sort by Timestamp asc | summarize count() by FileName | extend r = row_number()");
    assert!(message.contains("needs a serialized input"), "{message}");
    // The offset is a constant.
    let (kind, message, _) = error("DeviceProcessEvents | serialize | extend p = prev(FileName, ProcessId)");
    assert_eq!(kind, ErrorKind::Unsupported, "{message}");
}

#[test]
fn search_and_getschema_columns() {
    assert_eq!(
        columns("DeviceInfo | getschema"),
        ["ColumnName:String", "ColumnOrdinal:Int64", "DataType:String", "ColumnType:String"]
    );
    let searched = columns("search in (DeviceInfo, DeviceNetworkEvents) \"x\"");
    assert_eq!(searched[0], "$table:String");
    assert!(searched.contains(&"RemotePort:Int32".to_owned()) && searched.contains(&"OSBuild:Int64".to_owned()));
    assert_eq!(columns("search * | distinct $table"), ["$table:String"]);
    // A term inside not() is not KQL (Kusto wants a bool there).
    let (kind, _, _) = error("search in (DeviceInfo) not(\"x\")");
    assert_eq!(kind, ErrorKind::Semantic);
    // A predicate on a column only some tables have searches those tables.
    let only = columns("search RemotePort == 443 | distinct $table");
    assert_eq!(only, ["$table:String"]);
    let (_, message, _) = error("search in (DeviceInfo) RemotePort == 443");
    assert!(message.contains("RemotePort"), "{message}");
}

#[test]
fn percentiles_make_a_column_each() {
    assert_eq!(
        columns(
            "DeviceNetworkEvents | summarize percentiles(RemotePort, 5, 99.9), m = percentile(todouble(RemotePort), 50)"
        ),
        ["percentile_RemotePort_5:Int64", "percentile_RemotePort_99_9:Int64", "m:Double"]
    );
    assert_eq!(
        columns("DeviceNetworkEvents | summarize (p50, p90) = percentiles(RemotePort, 50, 90) by DeviceName"),
        ["DeviceName:String", "p50:Int64", "p90:Int64"]
    );
    let (kind, _, _) = error("DeviceNetworkEvents | summarize percentile(RemotePort, RemotePort)");
    assert_eq!(kind, ErrorKind::Unsupported);
    let (_, message, _) = error("DeviceNetworkEvents | summarize percentile(RemotePort, 150)");
    assert!(message.contains("not a percentile"), "{message}");
    let (_, message, _) = error("DeviceNetworkEvents | summarize percentile(DeviceName, 50)");
    assert!(message.contains("expects a number"), "{message}");
}

#[test]
fn make_bag_takes_bags() {
    assert_eq!(
        columns(
            "DeviceInfo | summarize make_bag(AdditionalFields), b = make_bag(bag_pack(DeviceName, OSBuild), 10) by DeviceId"
        ),
        ["DeviceId:String", "bag_AdditionalFields:Object", "b:Object"]
    );
    let (_, message, _) = error("DeviceInfo | summarize make_bag(DeviceName)");
    assert!(message.contains("expects a dynamic property bag"), "{message}");
}

#[test]
fn toscalar_is_the_first_value_of_its_query() {
    assert_eq!(
        columns(
            "let newest = toscalar(DeviceInfo | summarize max(Timestamp)); DeviceInfo | where Timestamp == newest | project DeviceName, n = toscalar(DeviceNetworkEvents | count)"
        ),
        ["DeviceName:String", "n:Int64"]
    );
    let (_, message, _) = error("print x = toscalar(DeviceInfo | where NoSuchColumn == 1)");
    assert!(message.contains("NoSuchColumn"), "{message}");
}

#[test]
fn range_makes_a_column_of_numbers_or_times() {
    assert_eq!(columns("range x from 1 to 5 step 1"), ["x:Int64"]);
    assert_eq!(columns("range x from 1 to 5 step 0.5"), ["x:Double"]);
    assert_eq!(columns("range t from ago(7d) to now() step 1h"), ["t:DateTime"]);
    let (kind, message, _) = error("range x from 5 to 1 step -1");
    assert_eq!(kind, ErrorKind::Unsupported, "{message}");
    let (_, message, _) = error("range t from ago(1d) to now() step 1");
    assert!(message.contains("'range' operator"), "{message}");
}

#[test]
fn urls_paths_and_timespans_parse_into_their_types() {
    assert_eq!(
        columns(
            "DeviceNetworkEvents | extend u = parse_url(RemoteUrl), h = parse_url(RemoteUrl).Host, q = parse_urlquery(RemoteUrl), p = parse_path(InitiatingProcessFolderPath), t = totimespan(\"00:01:00\"), s = totimespan(1m) | project u, h, q, p, t, s"
        ),
        ["u:Object", "h:Object", "q:Object", "p:Object", "t:TimeSpan", "s:TimeSpan"]
    );
    let (_, message, _) = error("print t = totimespan(5)");
    assert!(message.contains("a string or a timespan"), "{message}");
}

#[test]
fn top_nested_and_bag_unpack_columns() {
    assert_eq!(
        columns("DeviceNetworkEvents | top-nested 10 of RemoteUrl by dcount(DeviceId) asc"),
        ["RemoteUrl:String", "aggregated_RemoteUrl:Int64"]
    );
    assert_eq!(
        columns("DeviceInfo | top-nested of Os = tolower(OSPlatform) by Devices = count()"),
        ["Os:String", "Devices:Int64"]
    );
    let (_, message, _) = error("DeviceInfo | top-nested 3 of DeviceId by make_set(DeviceName)");
    assert!(message.contains("cannot order by a dynamic aggregation"), "{message}");
    assert_eq!(
        columns(
            "DeviceInfo | project DeviceId, AdditionalFields | evaluate bag_unpack(AdditionalFields) : (*, Tag:string, Seen:datetime)"
        ),
        ["DeviceId:String", "Tag:String", "Seen:DateTime"]
    );
}
