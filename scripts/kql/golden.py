#!/usr/bin/env python3
"""Turns the hunting golden file into input for check.js: the queries and, as Threatgate's
results, the columns each case expects.

Usage: scripts/kql/golden.py GOLDEN OUT_DIR  (writes OUT_DIR/queries.jsonl, OUT_DIR/results.jsonl)
"""
import json
import os
import sys

# The API's schema type names (Type::schema_name) to KQL's.
KQL = {"String": "string", "DateTime": "datetime", "Int32": "int", "Int64": "long", "Double": "real",
       "Boolean": "bool", "TimeSpan": "timespan", "Object": "dynamic"}


def main(golden, out):
    text = open(golden, encoding="utf-8").read()
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "queries.jsonl"), "w") as queries, open(os.path.join(out, "results.jsonl"), "w") as results:
        for block in text.split("\n== ")[1:]:
            header, rest = block.split("\n", 1)
            query, expected = rest.split("\n-- ", 1)
            columns = [c.split(":") for c in expected.split("\n", 1)[0].split(", ")]
            source = "golden: " + header.strip()
            queries.write(json.dumps({"source": source, "query": query.strip()}) + "\n")
            results.write(json.dumps({"source": source, "outcome": "answered",
                                      "columns": [[name, KQL[ty]] for name, ty in columns]}) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
