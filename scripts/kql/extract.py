#!/usr/bin/env python3
"""Extracts the KQL queries of a hunting-query collection as JSON lines.

Usage: scripts/kql/extract.py DIR > queries.jsonl

Reads every .md file's fenced code blocks and every .txt file whole (the layout of
microsoft/Microsoft-365-Defender-Hunting-Queries). Each line is
{"source": "<path>#<n>", "query": "<text>"}; blocks that look like no query (no `|` and no
table-like first word) are skipped. The queries themselves are not part of this repository.
"""
import json
import os
import re
import sys

FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)


def blocks(path, text):
    if path.endswith(".md"):
        return [m.group(1) for m in FENCE.finditer(text)]
    return [text]


def looks_like_kql(text):
    code = "\n".join(line for line in text.splitlines() if not line.strip().startswith("//")).strip()
    return bool(code) and ("|" in code or re.match(r"^(let|union|search|print|datatable)\b", code))


def main(root):
    for directory, _, files in sorted(os.walk(root)):
        for name in sorted(files):
            if not name.endswith((".md", ".txt")):
                continue
            path = os.path.join(directory, name)
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read().replace("\r\n", "\n").lstrip("\ufeff")
            for n, block in enumerate(b for b in blocks(path, text) if looks_like_kql(b)):
                source = f"{os.path.relpath(path, root)}#{n + 1}"
                print(json.dumps({"source": source, "query": block.strip()}))


if __name__ == "__main__":
    main(sys.argv[1])
