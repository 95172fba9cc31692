"""Bytewax: the benchmark's three results over a JSONL file of contract
events, written idiomatically as a Bytewax dataflow: keyed `fold_final`
steps, which emit when the (finite) input ends.

Same results as duckdb_job.py (see there); duplicates count once. `hour` is
cut from the `ts` string, which the benchmark's generator always writes as
`YYYY-MM-DDTHH:MM:SS.mmmZ`.

Run: HX_EVENTS=events.jsonl HX_OUT=out_dir python -m bytewax.run bytewax_job:flow -w 2
"""

import json
import math
import os
from pathlib import Path

import bytewax.operators as op
from bytewax.connectors.files import FileSink, FileSource
from bytewax.dataflow import Dataflow

EVENTS = os.environ.get("HX_EVENTS", "events.jsonl")
OUT = Path(os.environ.get("HX_OUT", "out"))
OUT.mkdir(parents=True, exist_ok=True)


def first(held, event):
    return event if held is None else held


def tsv(*fields):
    """One row: fields escaped as run.py's `field` does (backslash, tab,
    newline, carriage return), so any string stays one field."""
    return "\t".join(str(f).replace("\\", "\\\\").replace("\t", "\\t")
                     .replace("\n", "\\n").replace("\r", "\\r") for f in fields)


def add_call(acc, call):
    calls, tokens_in, tokens_out, latencies = acc
    latencies.append(call["latency_ms"])
    return (calls + 1, tokens_in + call["tokens_in"], tokens_out + call["tokens_out"], latencies)


def provider_row(key_stats):
    key, (calls, tokens_in, tokens_out, latencies) = key_stats
    latencies.sort()
    p95 = latencies[math.ceil(0.95 * calls) - 1]
    # The key is already escaped fields joined by tabs (`by_bucket`).
    return key + "\t" + tsv(calls, tokens_in, tokens_out, p95)


def add_message(acc, message):
    return (acc[0] + 1, acc[1] + message["tokens"])


def add_entities(acc, entities):
    acc.update(entities)
    return acc


def pairs(key_entities):
    _conversation, entities = key_entities
    ordered = sorted(entities)
    return [(tsv(ordered[i], b), 1) for i in range(len(ordered)) for b in ordered[i + 1:]]


flow = Dataflow("helixflow_peer_bench")
events = op.map("parse", op.input("events", flow, FileSource(EVENTS)), json.loads)
branches = op.branch("is_call", events, lambda e: e.get("type") == "provider_call")

calls = op.fold_final(
    "dedup_calls", op.key_on("by_event", branches.trues, lambda e: e["event_id"]),
    lambda: None, first)
stats = op.fold_final(
    "provider_stats",
    op.key_on("by_bucket", op.map("unkey_call", calls, lambda kv: kv[1]),
              lambda c: tsv(c["provider"], c["model"], c["ts"][:13] + ":00:00Z")),
    lambda: (0, 0, 0, []), add_call)
op.output("provider_stats_out", op.map("provider_row", stats, lambda kv: ("", provider_row(kv))),
          FileSink(OUT / "provider_stats.tsv"))

messages = op.filter("is_message", branches.falses, lambda e: e.get("type") == "message")
messages = op.map("unkey_message", op.fold_final(
    "dedup_messages",
    op.key_on("by_message", messages, lambda m: f'{m["conversation_id"]}\t{m["seq"]}'),
    lambda: None, first), lambda kv: kv[1])
conversations = op.fold_final(
    "conversations", op.key_on("by_conversation", messages, lambda m: m["conversation_id"]),
    lambda: (0, 0), add_message)
op.output("conversations_out",
          op.map("conversation_row", conversations,
                 lambda kv: ("", tsv(kv[0], kv[1][0], kv[1][1]))),
          FileSink(OUT / "conversations.tsv"))

mentioned = op.fold_final(
    "mentioned",
    op.key_on("mentions_by_conversation",
              op.map("entity_ids", messages,
                     lambda m: (m["conversation_id"], [e["id"] for e in m.get("entities") or []])),
              lambda ce: ce[0]),
    set, lambda acc, ce: add_entities(acc, ce[1]))
counts = op.count_final("cooccurrence", op.flat_map("pairs", mentioned, pairs), lambda p: p[0])
op.output("cooccurrence_out", op.map("pair_row", counts, lambda kv: ("", kv[0] + "\t" + tsv(kv[1]))),
          FileSink(OUT / "cooccurrence.tsv"))
