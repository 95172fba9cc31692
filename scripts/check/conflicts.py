"""Conflicting copies of events, for the sinks check: for the first N
`provider_call` and N `message` events of a JSONL file, a copy under the same
idempotency key with a different payload and a later `ts` (same second,
millisecond .999), so by the contract's rule the copy replaces the original.

usage: conflicts.py EVENTS_FILE N > CONFLICTS_FILE
"""

import json
import sys


def main():
    path, n = sys.argv[1], int(sys.argv[2])
    left = {"provider_call": n, "message": n}
    for line in open(path, encoding="utf-8"):
        try:
            o = json.loads(line)
        except ValueError:
            continue
        if not isinstance(o, dict) or left.get(o.get("type"), 0) == 0:
            continue
        ts = o.get("ts")
        if not (isinstance(ts, str) and ts.endswith("Z") and "." in ts) or ts.endswith(".999Z"):
            continue
        if o["type"] == "provider_call":
            if not isinstance(o.get("latency_ms"), int):
                continue
            o["latency_ms"] += 1000
        else:
            o["content"] = str(o.get("content")) + " (edited)"
        o["ts"] = ts[:ts.rindex(".")] + ".999Z"
        left[o["type"]] -= 1
        print(json.dumps(o))


if __name__ == "__main__":
    main()
