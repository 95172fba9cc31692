#!/usr/bin/env python3
"""Independent Kafka round trip for scripts/test.sh.

produce BROKERS FILE
    Sends every line of FILE to the contract's topics with confluent-kafka
    (librdkafka through Python, not the engine's producer): the topic of the
    line's `type`, keyed by the contract's key field; lines whose type cannot
    be told go unkeyed to the conversations topic. Prints the count.

collect API COUNT OUT_DIR
    Polls GET /v1/health until the views reflect COUNT messages with zero
    lag, then writes every view (GET /v1/views/{name}) to OUT_DIR/{name}.jsonl
    and the rejection counters to OUT_DIR/rejected.json.
"""
import json
import sys
import time
import urllib.request

TOPICS = {
    "message": ("helixagent.conversations", "conversation_id"),
    "memory": ("helixagent.memory.events", "memory_id"),
    "entity": ("helixagent.entities.updates", "entity_id"),
    "relationship": ("helixagent.relationships.updates", "source_id"),
    "provider_call": ("helixagent.analytics.providers", "provider"),
    "debate_round": ("helixagent.analytics.debates", "debate_id"),
}


def route(line):
    try:
        event = json.loads(line)
    except ValueError:
        return TOPICS["message"][0], None
    if not isinstance(event, dict) or event.get("type") not in TOPICS:
        return TOPICS["message"][0], None
    topic, key_field = TOPICS[event["type"]]
    key = event.get(key_field)
    return topic, key if isinstance(key, str) else None


def produce(brokers, path):
    from confluent_kafka import Producer
    failed = []
    p = Producer({"bootstrap.servers": brokers, "enable.idempotence": True,
                  "compression.type": "lz4", "linger.ms": 5})

    def done(err, _msg):
        if err is not None:
            failed.append(err)

    n = 0
    with open(path, "rb") as f:
        for raw in f:
            line = raw[:-1] if raw.endswith(b"\n") else raw
            topic, key = route(line)
            while True:
                try:
                    p.produce(topic, value=line, key=key, on_delivery=done)
                    break
                except BufferError:
                    p.poll(0.05)
            p.poll(0)
            n += 1
    left = p.flush(120)
    if left or failed:
        sys.exit(f"produce: {left} messages unflushed, {len(failed)} failed: {failed[:3]}")
    print(n)


def get(api, path):
    with urllib.request.urlopen(f"http://{api}{path}", timeout=60) as r:
        return r.read()


def collect(api, count, out_dir):
    deadline = time.time() + 180
    while True:
        try:
            h = json.loads(get(api, "/v1/health"))
            k = h["kafka"][0]
            visible = sum(p["visible"] for p in k["partitions"])
            if visible == count and k["lag"] == 0 and k["lag_known"]:
                break
        except (OSError, ValueError, KeyError, IndexError):
            pass
        if time.time() > deadline:
            sys.exit(f"collect: views did not reflect {count} messages within 180 s")
        time.sleep(0.1)
    # Every view the engine serves (GET /v1/views lists them).
    for v in (view["name"] for view in json.loads(get(api, "/v1/views"))):
        with open(f"{out_dir}/{v}.jsonl", "wb") as f:
            f.write(get(api, f"/v1/views/{v}"))
    h = json.loads(get(api, "/v1/health"))
    by_reason = {}
    for reasons in h["rejected"]["by_source"].values():
        for r, n in reasons.items():
            by_reason[r] = by_reason.get(r, 0) + n
    with open(f"{out_dir}/rejected.json", "w") as f:
        json.dump({"total": h["rejected"]["total"], "by_reason": by_reason,
                   "duplicates": h["duplicates"]}, f)
    print(f"collect: {count} messages visible, lag 0; views written to {out_dir}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "produce":
        produce(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 5 and sys.argv[1] == "collect":
        collect(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        sys.exit(__doc__)
