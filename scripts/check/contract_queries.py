"""The query contract (api.md v2) computed from scratch, and asked of a
running engine: each answer must equal this module's (apart from `as_of`
and `positions`, which must be present). Used by `contract_oracle.py --api`.

Shares no code with the engine. Queries are drawn with a fixed seed, so a
failure repeats; keys with conflicting payloads are left out (the oracle
cannot recompute the engine's payload fingerprint).
"""
import json
import math
import random
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict

from contract_oracle import b, close, fmt_ms

ROLES = ("user", "assistant", "system", "tool")


def call(addr, method, path, body=None):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(f"http://{addr}{path}", data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def wait_done(addr, timeout=300):
    """Waits until the engine has read all its (file) input."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            status, health = call(addr, "GET", "/v1/health")
            if status == 200 and health.get("all_input_done"):
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the engine at {addr} did not finish its input within {timeout} s")


def q(s):
    return urllib.parse.quote(s, safe="")


def conversations(events):
    convs = defaultdict(list)
    for e in events:
        if e["type"] == "message":
            convs[e["conversation_id"]].append(e)
    for ms in convs.values():
        ms.sort(key=lambda m: m["seq"])
    return convs


def ids_of(m):
    return sorted({x[0] for x in m["entities"]}, key=b)


# --- context -------------------------------------------------------------

def focus_of(ms, given):
    if given is not None:
        return sorted(set(given), key=b)
    counts = defaultdict(int)
    for m in ms:
        for i in ids_of(m):
            counts[i] += 1
    top = sorted(counts, key=lambda i: (-counts[i], b(i)))[:5]
    return sorted(top, key=b)


def candidates(ms, focus):
    f = set(focus)
    scored = [(len(f & set(ids_of(m))), m["seq"], k) for k, m in enumerate(ms)]
    return [k for score, seq, k in sorted(scored, key=lambda t: (-t[0], -t[1])) if score >= 1]


def replay(ms, body):
    strategy = body.get("strategy") or "hybrid"
    max_m, max_t, recent = body.get("max_messages"), body.get("max_tokens"), body.get("recent")
    given = body.get("entities")
    taken = [False] * len(ms)
    focus = [] if strategy in ("full", "window") else focus_of(ms, given)
    total = sum(m["tokens"] for m in ms)
    if strategy == "full":
        taken = [True] * len(ms)
    elif strategy == "window":
        limit, count, tokens = max_m or 20, 0, 0
        for k in range(len(ms) - 1, -1, -1):
            t = ms[k]["tokens"]
            if count >= limit or (max_t is not None and tokens + t > max_t):
                break
            taken[k], count, tokens = True, count + 1, tokens + t
    else:
        budget = max_t if strategy == "entity" else (max_t or max(1, math.ceil(0.3 * total)))
        if strategy == "entity":
            orders = [candidates(ms, focus)]
        else:
            r = recent or 10
            orders = [[k for k, m in enumerate(ms) if m["role"] == "system"],
                      list(range(len(ms) - 1, -1, -1))[:r],
                      candidates(ms, focus),
                      list(range(len(ms) - 1, -1, -1))]
        count, tokens = 0, 0
        for order in orders:
            for k in order:
                if taken[k]:
                    continue
                t = ms[k]["tokens"]
                if (max_m is None or count < max_m) and (budget is None or tokens + t <= budget):
                    taken[k], count, tokens = True, count + 1, tokens + t
    sel = [m for k, m in enumerate(ms) if taken[k]]
    sel_tokens = sum(m["tokens"] for m in sel)
    all_ids = {i for m in ms for i in ids_of(m)}
    covered = {i for m in sel for i in ids_of(m)}
    return {
        "conversation_id": ms[0]["conversation_id"], "strategy": strategy,
        "messages": [{"seq": m["seq"], "role": m["role"], "content": m["content"], "tokens": m["tokens"],
                      "ts": fmt_ms(m["ts"]), "entities": ids_of(m)} for m in sel],
        "stats": {"selected_messages": len(sel), "total_messages": len(ms), "selected_tokens": sel_tokens,
                  "total_tokens": total, "compression_ratio": sel_tokens / total if total else 1.0,
                  "entity_coverage": len(covered) / len(all_ids) if all_ids else 1.0,
                  "focus_entities": focus},
        "omitted": {"messages": len(ms) - len(sel), "tokens": total - sel_tokens,
                    "entities": sorted(all_ids - covered, key=b)},
    }


def stats(ms):
    counts = defaultdict(int)
    for m in ms:
        for i in ids_of(m):
            counts[i] += 1
    last_seq = max(m["seq"] for m in ms)
    return {
        "conversation_id": ms[0]["conversation_id"], "user_id": ms[0]["user_id"], "session_id": ms[0]["session_id"],
        "message_count": len(ms), "total_tokens": sum(m["tokens"] for m in ms),
        "by_role": {r: {"messages": sum(m["role"] == r for m in ms),
                        "tokens": sum(m["tokens"] for m in ms if m["role"] == r)} for r in ROLES},
        "first_ts": fmt_ms(min(m["ts"] for m in ms)), "last_ts": fmt_ms(max(m["ts"] for m in ms)),
        "last_seq": last_seq, "missing_seqs": len(set(range(last_seq + 1)) - {m["seq"] for m in ms}),
        "entity_count": len(counts),
        "top_entities": [{"id": i, "messages": counts[i]} for i in sorted(counts, key=lambda i: (-counts[i], b(i)))[:10]],
        "providers": sorted({m["provider"] for m in ms if m["provider"] is not None}, key=b),
    }


def context_queries(rng, convs, skip):
    names = sorted((c for c in convs if c not in skip), key=b)
    picks = rng.sample(names, min(len(names), 80))
    # The longest conversations too: they exercise the budgets most.
    picks += sorted(names, key=lambda c: -len(convs[c]))[:5]
    out = []
    for c in picks:
        ms = convs[c]
        ents = sorted({i for m in ms for i in ids_of(m)}, key=b)
        out.append(("GET", f"/v1/context/stats/{q(c)}", None, 200, stats(ms)))
        for strategy in ("full", "window", "entity", "hybrid", None):
            body = {"conversation_id": c}
            if strategy:
                body["strategy"] = strategy
            total = sum(m["tokens"] for m in ms)
            roll = rng.random()
            if roll < 0.3:
                body["max_messages"] = rng.randint(1, max(1, len(ms)))
            if roll > 0.2 and roll < 0.7:
                body["max_tokens"] = rng.randint(1, max(1, total))
            if rng.random() < 0.3:
                body["recent"] = rng.randint(1, 15)
            if rng.random() < 0.4 and strategy in ("entity", "hybrid"):
                body["entities"] = rng.sample(ents, min(len(ents), rng.randint(0, 4))) + (["no-such-id"] if rng.random() < 0.3 else [])
            out.append(("POST", "/v1/context/replay", body, 200, replay(ms, body)))
    return out


def error_queries():
    """Bad requests and unknown ids: (method, path, body, status, code)."""
    return [
        ("POST", "/v1/context/replay", {"conversation_id": "no-such-conversation"}, 404, "not_found"),
        ("POST", "/v1/context/replay", {"strategy": "full"}, 400, "bad_conversation_id"),
        ("POST", "/v1/context/replay", {"conversation_id": 7}, 400, "bad_conversation_id"),
        ("POST", "/v1/context/replay", {"conversation_id": "x", "strategy": "lossy"}, 400, "bad_strategy"),
        # A bad parameter is a 400 even for an unknown id.
        ("POST", "/v1/context/replay", {"conversation_id": "nope", "max_messages": 0}, 400, "bad_max_messages"),
        ("POST", "/v1/context/replay", {"conversation_id": "nope", "max_tokens": 3.0}, 400, "bad_max_tokens"),
        ("POST", "/v1/context/replay", {"conversation_id": "nope", "recent": -1}, 400, "bad_recent"),
        ("POST", "/v1/context/replay", {"conversation_id": "nope", "entities": "a"}, 400, "bad_entities"),
        ("POST", "/v1/context/replay", {"conversation_id": "nope", "entities": [1]}, 400, "bad_entities"),
        ("POST", "/v1/context/replay", b"[1,2]", 400, "bad_body"),
        ("POST", "/v1/context/replay", b"{not json", 400, "bad_body"),
        ("POST", "/v1/context/replay", b"", 400, "bad_body"),
        ("POST", "/v1/context/replay", b"{\"conversation_id\": \"" + b"x" * 70000 + b"\"}", 413, "body_too_large"),
        ("GET", "/v1/context/stats/no-such-conversation", None, 404, "not_found"),
        ("GET", "/v1/context/stats/x?verbose=1", None, 400, "unknown_parameter"),
        ("GET", "/v1/context/replay", None, 405, "method_not_allowed"),
    ]


def check(addr, events, conflicted, views):
    rng = random.Random(20261201)
    skip = {k[1] for k in conflicted if k[0] == "message"}
    convs = conversations(events)
    failures, asked = 0, 0
    for method, path, body, status, want in context_queries(rng, convs, skip):
        asked += 1
        got_status, got = call(addr, method, path, body)
        ok = got_status == status and "as_of" in got and "positions" in got
        got = {k: v for k, v in got.items() if k not in ("as_of", "positions")}
        if not ok or not close(got, want):
            failures += 1
            if failures <= 5:
                print(f"{method} {path} {json.dumps(body)[:300]}:\n  engine {got_status} {json.dumps(got)[:600]}\n  oracle {status} {json.dumps(want)[:600]}")
    for method, path, body, status, code in error_queries():
        asked += 1
        got_status, got = call(addr, method, path, body)
        if got_status != status or got.get("error", {}).get("code") != code or not got["error"].get("message"):
            failures += 1
            print(f"{method} {path}: engine {got_status} {got}, expected {status} {code}")
    print(f"query oracle: {asked} queries, {failures} differences")
    return failures
