"""Independent check of the database sinks: reads every view table back from
ClickHouse with clickhouse-client (FINAL, tombstones filtered) and the graph
from Neo4j with the official Python driver, and compares them row for row
with the view files `helixflow replay` wrote. Given the events file too, it
checks the raw `provider_calls` and `messages` tables against the events
(decoded by the independent contract oracle) and the hourly and daily
provider rollups against the `provider_stats` view.

usage: sinks_check.py VIEW_DIR CLICKHOUSE_TCP_PORT BOLT_URI [EVENTS_FILE]
"""

import datetime
import json
import math
import subprocess
import sys
from pathlib import Path

from neo4j import GraphDatabase

sys.path.insert(0, str(Path(__file__).parent))
from contract_oracle import Reject, decode  # noqa: E402

TABLES = {
    "conversation_snapshots": ["conversation_id"],
    "provider_stats": ["provider", "model", "hour"],
    "debate_stats": ["debate_id"],
    "memory_state": ["memory_id"],
    "user_intents": ["user_id", "intent"],
    "user_preferences": ["user_id", "provider"],
    "conversation_flow": ["from_role", "to_role"],
    "debate_strategies": ["stance"],
    "provider_performance": ["provider", "model"],
}
INTS = {"message_count", "user_messages", "assistant_messages", "total_tokens", "last_seq",
        "entity_count", "calls", "errors", "tokens_in", "tokens_out", "latency_p50",
        "latency_p95", "latency_p99", "rounds", "messages", "conversations", "sessions",
        "tokens", "transitions", "debates", "led", "consensus_debates"}


def millis(rfc3339):
    t = datetime.datetime.strptime(rfc3339.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z"
                                   if "." in rfc3339 else "%Y-%m-%dT%H:%M:%S%z")
    return round(t.timestamp() * 1000)


def same(a, b):
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def from_table(view, row):
    """A ClickHouse row in the contract's form."""
    out = {}
    for k, v in row.items():
        if k in ("_version", "_deleted"):
            continue
        if k in INTS:
            v = int(v)
        elif k in ("first_ts", "last_ts"):
            v = datetime.datetime.fromtimestamp(int(v) / 1000, datetime.timezone.utc) \
                .strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        elif k == "hour":
            v = v.replace(" ", "T") + "Z"
        elif k in ("mean_score", "version") and isinstance(v, str):
            v = json.loads(v)
        elif k == "consensus":
            v = bool(v)
        out[k] = v
    return out


def load(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def check_tables(view_dir, port):
    failures = 0
    for view, key in TABLES.items():
        query = (f"SELECT * FROM (SELECT * FROM helixflow.{view} FINAL) WHERE _deleted = 0 "
                 f"ORDER BY {', '.join(key)} FORMAT JSONEachRow")
        text = subprocess.run(["clickhouse-client", "--port", str(port), "--query", query],
                              check=True, capture_output=True, text=True).stdout
        got = [from_table(view, json.loads(line)) for line in text.splitlines() if line]
        want = load(view_dir / f"{view}.jsonl")
        bad = [(w, g) for w, g in zip(want, got) if not same(w, g)]
        if len(got) != len(want) or bad:
            failures += 1
            print(f"clickhouse {view}: {len(got)} rows, view has {len(want)}; "
                  f"first difference: {bad[:1]}", file=sys.stderr)
        else:
            print(f"clickhouse {view}: {len(got)} rows = the view")
    return failures


def check_graph(view_dir, uri):
    """The graph against the view files: every entity_directory id is a node
    named by its directory row (its entities row, else its latest mention);
    entity rows' fields; edges."""
    failures = 0
    entities = {r["entity_id"]: r for r in load(view_dir / "entities.jsonl")}
    directory = {r["id"]: r for r in load(view_dir / "entity_directory.jsonl")}
    rels = load(view_dir / "relationships.jsonl")
    pairs = load(view_dir / "entity_cooccurrence.jsonl")
    with GraphDatabase.driver(uri, auth=None) as driver:
        nodes, _, _ = driver.execute_query("MATCH (e:Entity) RETURN e")
        got_nodes = {n["e"]["id"]: dict(n["e"]) for n in nodes}
        want_ids = set(directory) | {p["a"] for p in pairs} | {p["b"] for p in pairs}
        wrong = []
        for i, row in directory.items():
            node = got_nodes.get(i, {})
            if (node.get("name"), node.get("kind")) != (row["name"], row["kind"]):
                wrong.append(({"id": i, "name": row["name"], "kind": row["kind"]}, node))
            if i not in entities and set(node) - {"id", "name", "kind"}:
                wrong.append(({"id": i, "fields": "id, name, kind only"}, node))
        for i, row in entities.items():
            node = got_nodes.get(i, {})
            expect = {"id": i, "name": row["name"], "kind": row["kind"], "ts": row["ts"],
                      "event_id": row["event_id"]}
            if "properties" in row:
                expect["properties"] = json.dumps(row["properties"], separators=(",", ":"))
            if "conversation_id" in row:
                expect["conversation_id"] = row["conversation_id"]
            if "properties" in node:
                node = {**node, "properties": json.dumps(json.loads(node["properties"]), separators=(",", ":"))}
            if node != expect:
                wrong.append((expect, node))
        if set(got_nodes) != want_ids or wrong:
            failures += 1
            print(f"neo4j Entity nodes: {len(got_nodes)}, expected {len(want_ids)}; "
                  f"first wrong entity: {wrong[:1]}", file=sys.stderr)
        else:
            named = sum(1 for r in directory.values() if r["name"] is not None and r["id"] not in entities)
            print(f"neo4j Entity nodes: {len(got_nodes)} = the entity_directory ids, named by it "
                  f"({len(entities)} by their entities row, {named} by their latest mention)")
        edges, _, _ = driver.execute_query(
            "MATCH (a:Entity)-[r:RELATES]->(b:Entity) RETURN a.id AS s, b.id AS t, r "
            "ORDER BY s, t, r.rel_type")
        got = sorted(({"source_id": e["s"], "target_id": e["t"], **{k: v for k, v in dict(e["r"]).items()}}
                      for e in edges), key=lambda r: (r["source_id"], r["target_id"], r["rel_type"]))
        want = [dict(r) for r in rels]
        bad = [(w, g) for w, g in zip(want, got) if not same(w, g)]
        if len(got) != len(want) or bad:
            failures += 1
            print(f"neo4j RELATES: {len(got)} edges, view has {len(want)}; first difference: {bad[:1]}",
                  file=sys.stderr)
        else:
            print(f"neo4j RELATES: {len(got)} edges = the relationships view")
        co, _, _ = driver.execute_query(
            "MATCH (a:Entity)-[r:CO_OCCURS]->(b:Entity) RETURN a.id AS a, b.id AS b, r.count AS count")
        got = sorted(((r["a"], r["b"], r["count"]) for r in co))
        want = sorted(((p["a"], p["b"], p["count"]) for p in pairs))
        if got != want:
            failures += 1
            diff = sorted(set(got) ^ set(want))[:3]
            print(f"neo4j CO_OCCURS: {len(got)} edges, view has {len(want)}; differing: {diff}",
                  file=sys.stderr)
        else:
            print(f"neo4j CO_OCCURS: {len(got)} edges = the entity_cooccurrence view")
    return failures


def clickhouse_rows(port, query):
    text = subprocess.run(["clickhouse-client", "--port", str(port), "--query",
                           query + " FORMAT JSONEachRow"],
                          check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in text.splitlines() if line]


RAW = {
    "provider_call": ("provider_calls", ("event_id",),
                      ("ts", "provider", "model", "latency_ms", "tokens_in", "tokens_out",
                       "cost_usd", "success", "error")),
    "message": ("messages", ("conversation_id", "seq"),
                ("event_id", "ts", "session_id", "user_id", "role", "content", "tokens",
                 "provider", "model", "latency_ms", "intent", "debate_id", "entities")),
}


def raw_value(field, value):
    """A raw table's value in the oracle's form."""
    if field in ("seq", "ts", "tokens", "latency_ms", "tokens_in", "tokens_out") \
            and value is not None:
        return int(value)
    if field == "success":
        return bool(value)
    if field == "entities":
        return [(x["id"], x["name"], x["kind"]) for x in json.loads(value)]
    return value


def report(bad, problem, ok):
    """Prints one check's outcome; 1 if it failed."""
    if bad:
        print(f"{problem}; first problem: {bad[:1]}", file=sys.stderr)
        return 1
    print(ok)
    return 0


def check_raw(events_file, port):
    """Each raw table holds one live row per distinct key of the valid events:
    the event itself where every copy agrees, and for conflicting copies
    one of those with the greatest ts (the engine's rule breaks ties by a
    payload fingerprint this check does not recompute)."""
    failures = 0
    copies = {t: {} for t in RAW}
    for line in Path(events_file).read_text().splitlines():
        try:
            e = decode(line)
        except Reject:
            continue
        if e["type"] in RAW:
            copies[e["type"]].setdefault(e["key"], []).append(e)
    for kind, (table, key, fields) in RAW.items():
        rows = clickhouse_rows(port, f"SELECT * FROM (SELECT * FROM helixflow.{table} FINAL) "
                                     "WHERE _deleted = 0")
        got = {(kind,) + tuple(raw_value(k, r[k]) for k in key): r for r in rows}
        bad = []
        if len(got) != len(rows):
            bad.append(("duplicate keys", len(rows) - len(got)))
        if got.keys() != copies[kind].keys():
            bad.append(("keys differ", len(got.keys() ^ copies[kind].keys())))
        conflicts = 0
        for k, es in copies[kind].items():
            r = got.get(k)
            if r is None:
                continue
            row = {f: raw_value(f, r[f]) for f in fields}
            distinct = {json.dumps([e.get(f) for f in fields]) for e in es}
            conflicts += len(distinct) > 1
            top = max(e["ts"] for e in es)
            if not any(all(same(row[f], e.get(f)) for f in fields) for e in es if e["ts"] == top):
                bad.append((k, row))
        failures += report(
            bad, f"clickhouse {table}: {len(got)} keys, events have {len(copies[kind])}",
            f"clickhouse {table}: {len(got)} rows = the distinct valid events "
            f"({conflicts} keys with conflicting copies)")
    return failures


def check_rollups(view_dir, port):
    """Hourly rollups equal provider_stats' counts and sums, daily rollups
    their sums per day; percentiles equal quantilesExact over the raw table
    wherever no replaced row was retracted in the bucket."""
    failures = 0
    stats = load(view_dir / "provider_stats.jsonl")
    sums = ("calls", "errors", "tokens_in", "tokens_out", "cost_usd")
    daily = {}
    for r in stats:
        d = daily.setdefault((r["provider"], r["model"], r["hour"][:10]), dict.fromkeys(sums, 0))
        for k in sums:
            d[k] += r[k]
    for name, column, want in (
            ("hourly", "hour", {(r["provider"], r["model"], r["hour"]): r for r in stats}),
            ("daily", "day", daily)):
        rows = clickhouse_rows(
            port,
            f"SELECT provider, model, {column}, sumMerge(calls) AS calls, "
            "sumMerge(errors) AS errors, sumMerge(tokens_in) AS tokens_in, "
            "sumMerge(tokens_out) AS tokens_out, sumMerge(cost_usd) AS cost_usd, "
            "quantilesExactIfMerge(0.5, 0.95, 0.99)(latency) AS latency "
            f"FROM helixflow.provider_calls_{name} GROUP BY provider, model, {column}")
        exact = {(r["provider"], r["model"], r["b"]): r for r in clickhouse_rows(
            port,
            "SELECT provider, model, "
            + ("toString(toStartOfHour(toDateTime(intDiv(ts, 1000))))" if name == "hourly"
               else "toString(toDate(toDateTime(intDiv(ts, 1000))))")
            + " AS b, quantilesExact(0.5, 0.95, 0.99)(latency_ms) AS latency, "
            "countIf(_deleted = 1) AS retracted FROM helixflow.provider_calls "
            "GROUP BY provider, model, b")}
        got, bad = {}, []
        for r in rows:
            if int(r["calls"]) == 0:
                continue  # every call of the bucket was retracted
            bucket = r[column].replace(" ", "T") + "Z" if name == "hourly" else r[column]
            got[(r["provider"], r["model"], bucket)] = r
            e = exact.get((r["provider"], r["model"], r[column]))
            if e is None or (int(e["retracted"]) == 0
                             and [int(x) for x in e["latency"]] != [int(x) for x in r["latency"]]):
                bad.append(("percentiles", r))
        bad += [k for k, w in want.items()
                if k not in got or not all(same(float(got[k][s]), float(w[s])) for s in sums)]
        bad += [k for k in got if k not in want]
        failures += report(
            bad, f"clickhouse provider_calls_{name}: {len(got)} buckets, want {len(want)}",
            f"clickhouse provider_calls_{name}: {len(got)} buckets = provider_stats "
            "(counts, sums; percentiles = quantilesExact over the raw table)")
    return failures


def main():
    view_dir, port, uri = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    events_file = sys.argv[4] if len(sys.argv) > 4 else None
    failures = check_tables(view_dir, port) + check_graph(view_dir, uri)
    if events_file:
        failures += check_raw(sys.argv[4], port) + check_rollups(view_dir, port)
    if failures:
        sys.exit(f"sinks check: {failures} mismatches")
    print("sinks check: ClickHouse tables and the Neo4j graph equal the views")


if __name__ == "__main__":
    main()
