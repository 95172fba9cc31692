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

import learning_queries
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


# --- knowledge ------------------------------------------------------------

WHITE_SPACE = set("\t\n\x0b\x0c\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | {chr(c) for c in range(0x2000, 0x200B)}


def trim(s):
    """Trims Unicode White_Space (Python's strip() trims a different set)."""
    start, end = 0, len(s)
    while start < end and s[start] in WHITE_SPACE:
        start += 1
    while end > start and s[end - 1] in WHITE_SPACE:
        end -= 1
    return s[start:end]


def related(views, entity, limit):
    directory = views["entity_directory"]
    me = directory[(entity,)]
    rel = defaultdict(lambda: {"cooccurrence": 0, "relationships": []})
    for (a, c), row in views["entity_cooccurrence"].items():
        if a == entity:
            rel[c]["cooccurrence"] = row["count"]
        elif c == entity:
            rel[a]["cooccurrence"] = row["count"]
    for (src, dst, ty), row in views["relationships"].items():
        if src == dst:
            continue
        if src == entity:
            rel[dst]["relationships"].append({"rel_type": ty, "direction": "out", "weight": row["weight"]})
        elif dst == entity:
            rel[src]["relationships"].append({"rel_type": ty, "direction": "in", "weight": row["weight"]})
    ranked = sorted(rel, key=lambda i: (-rel[i]["cooccurrence"], -len(rel[i]["relationships"]), b(i)))
    out = []
    for i in ranked[:limit]:
        d = directory[(i,)]
        out.append({"id": i, "name": d["name"], "kind": d["kind"], "cooccurrence": rel[i]["cooccurrence"],
                    "relationships": sorted(rel[i]["relationships"], key=lambda r: (b(r["rel_type"]), r["direction"]))})
    return {"entity_id": entity, "name": me["name"], "kind": me["kind"], "total": len(rel), "related": out}


def search(views, query, kind, limit):
    q = trim(query).lower()
    found = []
    for (i,), row in views["entity_directory"].items():
        if kind is not None and row["kind"] != kind:
            continue
        fields = [i.lower()] + ([row["name"].lower()] if row["name"] is not None else [])
        if any(q == f for f in fields):
            cls = 0
        elif any(f.startswith(q) for f in fields):
            cls = 1
        elif any(q in f for f in fields):
            cls = 2
        else:
            continue
        found.append((cls, -row["conversations"], b(i), row))
    found.sort(key=lambda t: t[:3])
    names = ("exact", "prefix", "substring")
    return {"query": query, "total": len(found),
            "results": [{"id": r["id"], "name": r["name"], "kind": r["kind"], "conversations": r["conversations"],
                         "match": names[c]} for c, _, _, r in found[:limit]]}


def knowledge_queries(rng, views, skip_entities):
    directory = views["entity_directory"]
    ids = sorted((i for (i,) in directory if i not in skip_entities), key=b)
    out = []
    # The entities with the most partners, and a random sample.
    degree = defaultdict(int)
    for (a, c) in views["entity_cooccurrence"]:
        degree[a] += 1
        degree[c] += 1
    picks = sorted(ids, key=lambda i: -degree[i])[:5] + rng.sample(ids, min(len(ids), 60))
    for i in picks:
        limit = rng.choice([None, 1, 5, 20, 1000])
        path = f"/v1/knowledge/related/{q(i)}" + ("" if limit is None else f"?limit={limit}")
        out.append(("GET", path, None, 200, related(views, i, limit or 20)))
    kinds = sorted({r["kind"] for r in directory.values() if r["kind"] is not None}, key=b)
    for _ in range(60):
        i = rng.choice(ids)
        name = directory[(i,)]["name"] or i
        roll = rng.random()
        if roll < 0.2:
            query = i
        elif roll < 0.4:
            query = name.upper()
        elif roll < 0.6:
            query = "  " + name[: rng.randint(1, len(name))] + "\u3000"
        elif roll < 0.8:
            start = rng.randint(0, max(0, len(i) - 2))
            query = i[start:start + rng.randint(1, 4)]
        else:
            query = rng.choice(["ent", "-1", "ü", "Ω", "aka", "zzz-none"])
        body = {"query": query}
        if rng.random() < 0.3 and kinds:
            body["kind"] = rng.choice(kinds)
        if rng.random() < 0.5:
            body["limit"] = rng.choice([1, 3, 20, 1000])
        out.append(("POST", "/v1/knowledge/search", body, 200, search(views, query, body.get("kind"), body.get("limit", 20))))
    return out


# --- memory --------------------------------------------------------------

def memory_status(events, views):
    nodes = defaultdict(lambda: {"ops": 0, "max_lamport": 0, "last_ts": None, "winning": 0})
    memory_ids, ops = set(), 0
    for e in events:
        if e["type"] != "memory":
            continue
        ops += 1
        memory_ids.add(e["memory_id"])
        n = nodes[e["node_id"]]
        n["ops"] += 1
        n["max_lamport"] = max(n["max_lamport"], e["lamport"])
        n["last_ts"] = e["ts"] if n["last_ts"] is None else max(n["last_ts"], e["ts"])
    for row in views["memory_state"].values():
        nodes[row["version"][1]]["winning"] += 1
    memories = len(views["memory_state"])
    return {"memories": memories, "deleted": len(memory_ids) - memories, "ops": ops,
            "nodes": [{"node_id": k, "ops": v["ops"], "max_lamport": v["max_lamport"], "last_ts": fmt_ms(v["last_ts"]),
                       "winning": v["winning"]} for k, v in sorted(nodes.items(), key=lambda kv: b(kv[0]))],
            "kafka": []}


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
        ("GET", "/v1/knowledge/related/no-such-entity", None, 404, "not_found"),
        ("GET", "/v1/knowledge/related/no-such-entity?limit=0", None, 400, "bad_limit"),
        ("GET", "/v1/knowledge/related/x?limit=1001", None, 400, "bad_limit"),
        ("GET", "/v1/knowledge/related/x?limit=2.0", None, 400, "bad_limit"),
        ("GET", "/v1/knowledge/related/x?depth=2", None, 400, "unknown_parameter"),
        ("POST", "/v1/knowledge/search", {"query": "  \t\u3000 "}, 400, "bad_query"),
        ("POST", "/v1/knowledge/search", {"query": "x" * 257}, 400, "bad_query"),
        ("POST", "/v1/knowledge/search", {"query": 5}, 400, "bad_query"),
        ("POST", "/v1/knowledge/search", {}, 400, "bad_query"),
        ("POST", "/v1/knowledge/search", {"query": "ent", "kind": ["person"]}, 400, "bad_kind"),
        ("POST", "/v1/knowledge/search", {"query": "ent", "limit": 0}, 400, "bad_limit"),
        ("POST", "/v1/knowledge/search", {"query": "ent", "limit": 1e3}, 400, "bad_limit"),
        ("POST", "/v1/knowledge/search", b"null", 400, "bad_body"),
        ("POST", "/v1/memory/sync/force", {"timeout_ms": "soon"}, 400, "bad_timeout_ms"),
        ("POST", "/v1/memory/sync/force", {"timeout_ms": -1}, 400, "bad_timeout_ms"),
        ("GET", "/v1/memory/sync/status?node=a", None, 400, "unknown_parameter"),
        ("GET", "/v1/memory/sync/force", None, 405, "method_not_allowed"),
    ]


def check(addr, events, conflicted, views):
    rng = random.Random(20261201)
    skip = {k[1] for k in conflicted if k[0] == "message"}
    convs = conversations(events)
    queries = context_queries(rng, convs, skip)
    if conflicted:
        print(f"knowledge, memory and learning checks skipped: {len(conflicted)} conflicted keys")
    else:
        queries += knowledge_queries(rng, views, set())
        queries.append(("GET", "/v1/memory/sync/status", None, 200, memory_status(events, views)))
        queries += learning_queries.queries(rng, views)
        queries += learning_queries.analytics_queries(rng, views)
        queries += learning_queries.analytics_lookup_queries(rng, events, views)
    failures, asked = 0, 0
    for method, path, body, status, want in queries:
        asked += 1
        got_status, got = call(addr, method, path, body)
        ok = got_status == status and "as_of" in got and "positions" in got
        got = {k: v for k, v in got.items() if k not in ("as_of", "positions")}
        if path == "/v1/memory/sync/status" and isinstance(got.get("kafka"), list) and got["kafka"]:
            # Fed by Kafka: each memory-topic partition has its offsets; the rest must equal.
            shape = {"topic", "partition", "consumed", "visible", "high_watermark"}
            ok = ok and all(set(p) == shape and all(isinstance(p[k], int) for k in shape - {"topic"})
                            for p in got["kafka"])
            got["kafka"] = []
        if not ok or not close(got, want):
            failures += 1
            if failures <= 5:
                print(f"{method} {path} {json.dumps(body)[:300]}:\n  engine {got_status} {json.dumps(got)[:600]}\n  oracle {status} {json.dumps(want)[:600]}")
    for method, path, body, status, code in error_queries() + learning_queries.error_queries() \
            + learning_queries.analytics_error_queries() + learning_queries.analytics_lookup_error_queries():
        asked += 1
        got_status, got = call(addr, method, path, body)
        if got_status != status or got.get("error", {}).get("code") != code or not got["error"].get("message"):
            failures += 1
            print(f"{method} {path}: engine {got_status} {got}, expected {status} {code}")
    print(f"query oracle: {asked} queries, {failures} differences")
    return failures
