"""Pathway: the benchmark's three results over a JSONL file of contract
events, written idiomatically with Pathway's table API (static mode: the
file is read once, the computation runs to completion, results are written
as CSV with Pathway's `time`/`diff` columns).

Same results as duckdb_job.py (see there); duplicates count once. `hour` is
cut from the `ts` string, which the benchmark's generator always writes as
`YYYY-MM-DDTHH:MM:SS.mmmZ`.

usage: pathway_job.py EVENTS.jsonl OUT_DIR [THREADS]
"""

import math
import os
import sys
from pathlib import Path

import pathway as pw


class Event(pw.Schema):
    type: str
    event_id: str
    ts: str
    conversation_id: str | None = pw.column_definition(default_value=None)
    seq: int | None = pw.column_definition(default_value=None)
    tokens: int | None = pw.column_definition(default_value=None)
    entities: pw.Json | None = pw.column_definition(default_value=None)
    provider: str | None = pw.column_definition(default_value=None)
    model: str | None = pw.column_definition(default_value=None)
    latency_ms: int | None = pw.column_definition(default_value=None)
    tokens_in: int | None = pw.column_definition(default_value=None)
    tokens_out: int | None = pw.column_definition(default_value=None)


def p95(latencies: tuple) -> int:
    return latencies[math.ceil(0.95 * len(latencies)) - 1]


def entity_ids(entities: pw.Json | None) -> list:
    """Distinct mentioned ids (a message without `entities` mentions none)."""
    if entities is None:
        return []
    return sorted({e["id"] for e in (entities.value or [])})


def results(events: pw.Table) -> tuple[pw.Table, pw.Table, pw.Table]:
    """The three results over a table of events: provider stats,
    conversations, co-occurrence."""
    calls = (
        events.filter(pw.this.type == "provider_call")
        .groupby(pw.this.event_id)
        .reduce(
            provider=pw.unwrap(pw.reducers.any(pw.this.provider)),
            model=pw.unwrap(pw.reducers.any(pw.this.model)),
            hour=pw.apply(lambda ts: ts[:13] + ":00:00Z", pw.reducers.any(pw.this.ts)),
            latency_ms=pw.unwrap(pw.reducers.any(pw.this.latency_ms)),
            tokens_in=pw.unwrap(pw.reducers.any(pw.this.tokens_in)),
            tokens_out=pw.unwrap(pw.reducers.any(pw.this.tokens_out)),
        )
    )
    provider_stats = calls.groupby(pw.this.provider, pw.this.model, pw.this.hour).reduce(
        pw.this.provider,
        pw.this.model,
        pw.this.hour,
        calls=pw.reducers.count(),
        tokens_in=pw.reducers.sum(pw.this.tokens_in),
        tokens_out=pw.reducers.sum(pw.this.tokens_out),
        latency_p95=pw.apply(p95, pw.reducers.sorted_tuple(pw.this.latency_ms)),
    )

    messages = (
        events.filter(pw.this.type == "message")
        .groupby(pw.this.conversation_id, pw.this.seq)
        .reduce(
            pw.this.conversation_id,
            tokens=pw.unwrap(pw.reducers.any(pw.this.tokens)),
            entities=pw.reducers.any(pw.this.entities),
        )
    )
    conversations = messages.groupby(pw.this.conversation_id).reduce(
        pw.this.conversation_id,
        message_count=pw.reducers.count(),
        total_tokens=pw.reducers.sum(pw.this.tokens),
    )

    mentions = (
        messages.select(
            pw.this.conversation_id,
            entity=pw.apply_with_type(entity_ids, list[str], pw.this.entities),
        )
        .flatten(pw.this.entity)
        .groupby(pw.this.conversation_id, pw.this.entity)
        .reduce(pw.this.conversation_id, pw.this.entity)
    )
    other = mentions.copy()
    cooccurrence = (
        mentions.join(other, mentions.conversation_id == other.conversation_id)
        .select(a=mentions.entity, b=other.entity)
        .filter(pw.this.a < pw.this.b)
        .groupby(pw.this.a, pw.this.b)
        .reduce(pw.this.a, pw.this.b, count=pw.reducers.count())
    )
    return provider_stats, conversations, cooccurrence


def main():
    events_file, out = sys.argv[1], Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    events = pw.io.jsonlines.read(events_file, schema=Event, mode="static")
    provider_stats, conversations, cooccurrence = results(events)
    pw.io.csv.write(provider_stats, out / "provider_stats.csv")
    pw.io.csv.write(conversations, out / "conversations.csv")
    pw.io.csv.write(cooccurrence, out / "cooccurrence.csv")
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)


if __name__ == "__main__":
    os.environ.setdefault("PATHWAY_THREADS", sys.argv[3] if len(sys.argv) > 3 else "2")
    main()
