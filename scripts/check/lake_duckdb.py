#!/usr/bin/env python3
"""Independent check of a Helixflow lake with DuckDB.

Reads the lake's Parquet tables with DuckDB's own reader
(`read_parquet(..., hive_partitioning = true)`), applies the live-row rule
of docs/lake.md in SQL, and compares the live rows, field by field, with
the distinct valid events of the input JSONL files (validated and deduped
by contract_oracle.py's decoder, which shares no code with the engine).

Each table is read twice: through the glob of its partitions, and through
the file list of the lake's latest manifest. Both must give the same rows.

Usage: lake_duckdb.py LAKE FILE...
  LAKE is a directory or s3://BUCKET/PREFIX; for S3 the endpoint and keys
  come from AWS_ENDPOINT (e.g. http://127.0.0.1:9000), AWS_ACCESS_KEY_ID,
  AWS_SECRET_ACCESS_KEY and AWS_REGION. Exit 1 on any difference.

A key whose copies conflict is compared by the rule's first tie-breaker
(greatest ts); where several payloads share that ts, the engine's second
tie-breaker (a payload fingerprint) cannot be recomputed here, so the live
row must be one of them.
"""
import json
import os
import sys
from collections import defaultdict
from datetime import datetime, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from contract_oracle import Reject, decode  # noqa: E402

import duckdb  # noqa: E402

TYPES = ["message", "memory", "entity", "relationship", "provider_call", "debate_round"]

# The live-row rule of docs/lake.md: per idempotency key, the row with the
# greatest ts, then the greatest _fingerprint.
KEY = {t: "event_id" for t in TYPES}
KEY["message"] = "conversation_id, seq"
LIVE = """
SELECT * FROM read_parquet({files}, hive_partitioning = true)
QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY ts DESC, _fingerprint DESC) = 1
"""
# Timestamps leave DuckDB as milliseconds since the Unix epoch.
AS_MILLIS = "SELECT * REPLACE (epoch_ms(ts) AS ts) FROM ({live})"


def connect(lake):
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    if lake.startswith("s3://"):
        from duckdb_extensions import import_extension

        import_extension("httpfs")
        con.load_extension("httpfs")
        endpoint = os.environ.get("AWS_ENDPOINT", "")
        use_ssl = endpoint.startswith("https://")
        host = endpoint.split("://", 1)[-1].rstrip("/")
        con.execute(
            "CREATE SECRET lake (TYPE s3, KEY_ID ?, SECRET ?, REGION ?, ENDPOINT ?, URL_STYLE 'path', USE_SSL ?)",
            [
                os.environ.get("AWS_ACCESS_KEY_ID", ""),
                os.environ.get("AWS_SECRET_ACCESS_KEY", ""),
                os.environ.get("AWS_REGION", "us-east-1"),
                host,
                use_ssl,
            ],
        )
    return con


def manifest_files(con, lake):
    """The latest manifest's files, grouped by table, read with DuckDB too."""
    rows = con.execute(
        f"SELECT commit, files FROM read_json('{lake}/_helixflow/manifest-*.json', maximum_object_size = 1073741824) "
        "ORDER BY commit DESC LIMIT 1"
    ).fetchall()
    by_type = defaultdict(list)
    if not rows:
        return 0, by_type
    commit, files = rows[0]
    for f in files:
        by_type[f["path"].split("/", 1)[0]].append(f"{lake}/{f['path']}")
    return commit, by_type


def py_value(v):
    """A typed property value as (type, value) so 1, 1.0 and true differ."""
    if v is None:
        return ("null", None)
    for field in ("string", "integer", "unsigned", "float", "boolean"):
        if v.get(field) is not None:
            kind = {"unsigned": "integer"}.get(field, field)
            return (kind, v[field])
    return ("null", None)


def typed(x):
    if x is None:
        return ("null", None)
    if isinstance(x, bool):
        return ("boolean", x)
    if isinstance(x, int):
        return ("integer", x)
    if isinstance(x, float):
        return ("float", x)
    return ("string", x)


def from_lake(t, row):
    """A live row in the oracle's event form (ts in ms, nested as tuples)."""
    e = dict(row)
    ts = e.pop("ts")
    e["ts"] = ts
    e["type"] = t
    day = datetime.fromtimestamp(e["ts"] / 1000, tz=timezone.utc)
    partition = (int(e.pop("year")), int(e.pop("month")), int(e.pop("day")))
    if partition != (day.year, day.month, day.day):
        raise AssertionError(f"{t} {e.get('event_id')}: partition {partition} is not the day of ts {day}")
    e.pop("_fingerprint")
    if t == "message":
        e["entities"] = [(m["id"], m["name"], m["kind"]) for m in e["entities"]]
    if t == "entity" and e["properties"] is not None:
        e["properties"] = {k: py_value(v) for k, v in e["properties"].items()}
    return e


def from_input(e):
    e = {k: v for k, v in e.items() if k != "key"}
    if e["type"] == "entity" and e["properties"] is not None:
        e["properties"] = {k: typed(v) for k, v in e["properties"].items()}
    return e


def key_of(t, e):
    return (t, e["conversation_id"], e["seq"]) if t == "message" else (t, e["event_id"])


def expected(files):
    """Per key: the candidates the rule may keep (the greatest ts's payloads)."""
    copies = defaultdict(list)
    for f in files:
        with open(f, "rb") as fh:
            for raw in fh.read().split(b"\n"):
                if not raw:
                    continue
                try:
                    e = decode(raw.decode("utf-8"))
                except (Reject, UnicodeDecodeError):
                    continue
                copies[e["key"]].append(from_input(e))
    out = {}
    for k, es in copies.items():
        top = max(e["ts"] for e in es)
        cands = []
        for e in es:
            if e["ts"] == top and e not in cands:
                cands.append(e)
        out[(k[0],) + tuple(k[1:])] = cands
    return out


def live_rows(con, t, files):
    if not files:
        return {}
    sql = AS_MILLIS.format(live=LIVE.format(files="$files", key=KEY[t]))
    cur = con.execute(sql, {"files": files})
    names = [d[0] for d in cur.description]
    out = {}
    for r in cur.fetchall():
        e = from_lake(t, zip(names, r))
        k = key_of(t, e)
        if k in out:
            raise AssertionError(f"{t}: two live rows for {k}")
        out[k] = e
    return out


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    lake, inputs = sys.argv[1].rstrip("/"), sys.argv[2:]
    con = connect(lake)
    want = expected(inputs)
    commit, listed = manifest_files(con, lake)
    problems, checked, ties = [], 0, 0
    for t in TYPES:
        glob = f"{lake}/{t}/*/*/*/*.parquet"
        has_files = con.execute("SELECT count(*) FROM glob(?)", [glob]).fetchone()[0] > 0
        by_glob = live_rows(con, t, [glob] if has_files else [])
        by_manifest = live_rows(con, t, listed.get(t, []))
        if by_glob != by_manifest:
            problems.append(f"{t}: the partitions' glob gives {len(by_glob)} live rows, the manifest's files {len(by_manifest)}")
        mine = {k: v for k, v in want.items() if k[0] == t}
        for k in mine.keys() - by_manifest.keys():
            problems.append(f"{t} {k[1:]}: a distinct valid event the lake lacks")
        for k in by_manifest.keys() - mine.keys():
            problems.append(f"{t} {k[1:]}: a live row no valid input event has")
        for k in mine.keys() & by_manifest.keys():
            checked += 1
            if len(mine[k]) > 1:
                ties += 1
            if by_manifest[k] not in mine[k]:
                got = by_manifest[k]
                exp = mine[k][0]
                diff = sorted(f for f in set(got) | set(exp) if got.get(f) != exp.get(f))
                problems.append(f"{t} {k[1:]}: fields {diff} differ: lake {[got.get(f) for f in diff]} input {[exp.get(f) for f in diff]}")
    for p in problems[:30]:
        print("DIFF", p)
    print(
        f"lake {lake} at commit {commit}: {checked} live rows checked field by field against "
        f"{len(want)} distinct valid input events ({ties} conflicting keys tied on ts), "
        f"{len(problems)} differences"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
