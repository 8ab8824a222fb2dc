// Compares Threatgate's advanced hunting with Microsoft's KQL parser and semantic model
// (Kusto.Language, published on npm as @kusto/language-service-next).
//
//   node scripts/kql/check.js SCHEMA.json QUERIES.jsonl [RESULTS.jsonl]
//
// SCHEMA.json: {"Table": [["Column", "type"], ...]} (`hunting_corpus --schema`).
// QUERIES.jsonl: {"source", "query"} per line (`extract.py`, or the golden files).
// RESULTS.jsonl: Threatgate's outcome per query (`hunting_corpus`), by source.
//
// Prints, for the queries Microsoft's parser accepts against the schema: how many Threatgate
// answered, the refusals grouped by message, and every answered query whose output columns
// (names and types) differ from what Microsoft's semantic model computes. Also every query
// Threatgate answered that Microsoft's parser rejects. Exits 1 when Threatgate answered an
// invalid query or reported other columns; with THREATGATE_KQL_MIN_RATE (a percentage) also
// when the answered rate is below it. THREATGATE_KQL_VERBOSE=1 groups refusals by their whole
// message rather than with names elided.
'use strict';
const fs = require('fs');
require('@kusto/language-service-next/bridge.min.js');
require('@kusto/language-service-next/Kusto.Language.Bridge.min.js');

const K = Kusto.Language;
const S = K.Symbols;

function lines(path) {
  return fs.readFileSync(path, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
}

function globals(schema) {
  const tables = Object.entries(schema).map(
    ([name, columns]) => new S.TableSymbol.$ctor7(name, '(' + columns.map(([c, t]) => `['${c}']: ${t}`).join(', ') + ')'),
  );
  return K.GlobalState.Default.WithDatabase(new S.DatabaseSymbol.$ctor1('hunting', tables));
}

function analyze(query, state) {
  const code = K.KustoCode.ParseAndAnalyze(query, state);
  const errors = Bridge.toArray(code.GetDiagnostics())
    .filter((d) => d.Severity === 'Error')
    .map((d) => d.Message);
  let columns = null;
  const result = code.ResultType;
  if (result && result.Columns) {
    columns = Bridge.toArray(result.Columns).map((c) => [c.Name, c.Type.Name]);
  }
  return { errors, columns };
}

// KQL's type names as both sides print them.
function typeName(t) {
  return { int: 'int', long: 'long', real: 'real', double: 'real', bool: 'bool', boolean: 'bool', string: 'string',
    datetime: 'datetime', timespan: 'timespan', dynamic: 'dynamic', guid: 'guid', decimal: 'decimal' }[t] || t;
}

function main() {
  const [schemaPath, queriesPath, resultsPath] = process.argv.slice(2);
  if (!schemaPath || !queriesPath) {
    console.error('usage: node check.js SCHEMA.json QUERIES.jsonl [RESULTS.jsonl]');
    process.exit(2);
  }
  const state = globals(JSON.parse(fs.readFileSync(schemaPath, 'utf8')));
  const results = new Map((resultsPath ? lines(resultsPath) : []).map((r) => [r.source, r]));
  let valid = 0, answered = 0, problems = 0;
  const refusals = new Map();
  const invalidReasons = new Map();
  for (const { source, query } of lines(queriesPath)) {
    const ms = analyze(query, state);
    const ours = results.get(source);
    if (ms.errors.length) {
      const reason = ms.errors[0].replace(/'[^']*'/g, "'…'");
      invalidReasons.set(reason, (invalidReasons.get(reason) || 0) + 1);
      if (ours && ours.outcome === 'answered') {
        problems++;
        console.log(`ACCEPTED BUT NOT VALID KQL ${source}: ${ms.errors[0]}`);
      }
      continue;
    }
    valid++;
    if (!ours) continue;
    if (ours.outcome === 'answered') {
      answered++;
      const theirs = (ms.columns || []).map(([n, t]) => `${n}:${typeName(t)}`).join(', ');
      const mine = ours.columns.map(([n, t]) => `${n}:${typeName(t)}`).join(', ');
      if (ms.columns && theirs !== mine) {
        problems++;
        console.log(`COLUMNS DIFFER ${source}\n  Microsoft:  ${theirs}\n  Threatgate: ${mine}`);
      }
    } else {
      // THREATGATE_KQL_VERBOSE=1 groups by the whole message (names included).
      const message = ours.message.replace(/\[line:position=[^\]]*\]/, '');
      const key = `${ours.outcome}: ${(process.env.THREATGATE_KQL_VERBOSE ? message : message.replace(/'[^']*'/g, "'…'")).slice(0, 160)}`;
      const list = refusals.get(key) || [];
      list.push(source);
      refusals.set(key, list);
    }
  }
  const sorted = [...refusals.entries()].sort((a, b) => b[1].length - a[1].length);
  console.log(`\nRefusals of valid queries (${valid - answered}):`);
  for (const [key, sources] of sorted) console.log(`${String(sources.length).padStart(4)}  ${key}\n        e.g. ${sources[0]}`);
  console.log('\nWhy Microsoft\'s parser rejected the others:');
  for (const [key, n] of [...invalidReasons.entries()].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`${String(n).padStart(4)}  ${key}`);
  const rate = valid ? (100 * answered) / valid : 0;
  console.log(`\nvalid KQL for the schema: ${valid}; Threatgate answered ${answered} (${rate.toFixed(1)}%); problems: ${problems}`);
  const min = Number(process.env.THREATGATE_KQL_MIN_RATE || 0);
  if (problems > 0 || rate < min) process.exit(1);
}

main();
