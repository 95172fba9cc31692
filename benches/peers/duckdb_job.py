"""DuckDB, the batch floor: the benchmark's three results over a JSONL file
of contract events, written idiomatically as SQL over `read_json`.

- provider_stats: per (provider, model, UTC hour) of distinct `provider_call`
  events: calls, tokens_in, tokens_out, nearest-rank p95 of latency_ms
  (the value at 1-based rank ceil(0.95 * calls)).
- conversations: per conversation_id of distinct `message` events:
  message_count, total_tokens.
- cooccurrence: per unordered entity pair (a < b, byte order): the number
  of distinct conversations mentioning both.

Duplicates (same idempotency key) count once. The input holds no
conflicting copies (the benchmark's generator writes exact repeats).

usage: duckdb_job.py EVENTS.jsonl OUT_DIR [THREADS]
"""

import sys
from pathlib import Path

import duckdb

COLUMNS = {
    "type": "VARCHAR", "event_id": "VARCHAR", "ts": "VARCHAR",
    "conversation_id": "VARCHAR", "seq": "UBIGINT", "tokens": "BIGINT",
    "entities": "STRUCT(id VARCHAR, name VARCHAR, kind VARCHAR)[]",
    "provider": "VARCHAR", "model": "VARCHAR", "latency_ms": "BIGINT",
    "tokens_in": "BIGINT", "tokens_out": "BIGINT",
}


def main():
    events, out = sys.argv[1], Path(sys.argv[2])
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    con.execute("SET TimeZone = 'UTC'")
    columns = "{" + ", ".join(f"'{k}': '{v}'" for k, v in COLUMNS.items()) + "}"
    con.execute(f"""
        CREATE TABLE events AS SELECT * FROM read_json(
            '{events}', format = 'newline_delimited', columns = {columns},
            ignore_errors = true)""")
    con.execute("""
        CREATE TABLE calls AS
        SELECT DISTINCT ON (event_id) provider, model, latency_ms, tokens_in, tokens_out,
               date_trunc('hour', CAST(ts AS TIMESTAMPTZ)) AS hour
        FROM events WHERE type = 'provider_call'""")
    con.execute("""
        CREATE TABLE messages AS
        SELECT DISTINCT ON (conversation_id, seq) conversation_id, tokens, entities
        FROM events WHERE type = 'message'""")
    con.execute(f"""
        COPY (
            SELECT provider, model, strftime(hour, '%Y-%m-%dT%H:00:00Z') AS hour,
                   count(*) AS calls, sum(tokens_in) AS tokens_in, sum(tokens_out) AS tokens_out,
                   list_sort(list(latency_ms))[CAST(ceil(0.95 * count(*)) AS BIGINT)] AS latency_p95
            FROM calls GROUP BY provider, model, hour
        ) TO '{out / "provider_stats.tsv"}' (FORMAT csv, DELIMITER '\t', HEADER false)""")
    con.execute(f"""
        COPY (
            SELECT conversation_id, count(*) AS message_count, sum(tokens) AS total_tokens
            FROM messages GROUP BY conversation_id
        ) TO '{out / "conversations.tsv"}' (FORMAT csv, DELIMITER '\t', HEADER false)""")
    con.execute(f"""
        COPY (
            WITH mentions AS (
                SELECT DISTINCT conversation_id, e.id AS entity
                FROM (SELECT conversation_id, unnest(entities) AS e FROM messages)
            )
            SELECT x.entity AS a, y.entity AS b, count(*) AS count
            FROM mentions x JOIN mentions y
              ON x.conversation_id = y.conversation_id AND x.entity < y.entity
            GROUP BY a, b
        ) TO '{out / "cooccurrence.tsv"}' (FORMAT csv, DELIMITER '\t', HEADER false)""")


if __name__ == "__main__":
    main()
