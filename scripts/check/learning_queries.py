"""The learning and analytics queries of api.md v2, computed from scratch
from the oracle's views (contract_oracle.views): expected answers for
`contract_queries.check`. Shares no code with the engine."""

import math
import urllib.parse

from contract_oracle import KEYS, b, fmt_ms, parse_ts


def q(s):
    return urllib.parse.quote(s, safe="")

PATTERNS = {
    "user_intent": ("user_intents", "messages"),
    "debate_strategy": ("debate_strategies", "debates"),
    "entity_cooccurrence": ("entity_cooccurrence", "count"),
    "user_preference": ("user_preferences", "messages"),
    "conversation_flow": ("conversation_flow", "transitions"),
    "provider_performance": ("provider_performance", None),
}


_SORTED = {}


def key_order(views, view):
    """A view's rows in key order (computed once per views object)."""
    cache = _SORTED.setdefault(id(views), {})
    if view not in cache:
        cache[view] = sorted(views[view].values(), key=lambda r: [b(r[k]) for k in KEYS[view]])
    return list(cache[view])


def performance_order(rows):
    return sorted(rows, key=lambda r: (r["error_rate"], r["latency_p95"],
                                       r["cost_per_1k_tokens"] is None, r["cost_per_1k_tokens"] or 0))


def patterns(views, kind, limit):
    view, support = PATTERNS[kind]
    rows = key_order(views, view)
    rows = sorted(rows, key=lambda r: -r[support]) if support else performance_order(rows)
    return {"type": kind, "total": len(rows), "patterns": rows[:limit]}


def statements(views):
    """Every statement but best_provider (which depends on min_support), sorted."""
    out = []
    by_user = {}
    for r in key_order(views, "user_preferences"):
        by_user.setdefault(r["user_id"], []).append(r)
    for user, rows in by_user.items():
        top = max(r["messages"] for r in rows)
        best = min((r for r in rows if r["messages"] == top), key=lambda r: b(r["provider"]))
        if best["share"] >= 0.5:
            out.append(("user_preference", sum(r["messages"] for r in rows),
                        [("user_id", user), ("provider", best["provider"]), ("share", best["share"])]))
    for r in views["user_intents"].values():
        if r["sessions"] >= 2:
            out.append(("recurring_intent", r["messages"],
                        [("user_id", r["user_id"]), ("intent", r["intent"]), ("sessions", r["sessions"])]))
    for r in views["entity_cooccurrence"].values():
        out.append(("entity_pair", r["count"], [("a", r["a"]), ("b", r["b"])]))
    for r in views["debate_strategies"].values():
        out.append(("debate_strategy", r["debates"],
                    [("stance", r["stance"]), ("mean_score", r["mean_score"]), ("led", r["led"])]))
    out.sort(key=statement_order)
    return out


def statement_order(i):
    return (-i[1], b(i[0]), [b(v) if isinstance(v, str) else v for _, v in i[2]])


def insights(views, min_support, limit, base=None):
    out = [i for i in (base if base is not None else statements(views)) if i[1] >= min_support]
    for r in performance_order(key_order(views, "provider_performance")):
        if r["calls"] >= min_support:
            best = ("best_provider", r["calls"], [("provider", r["provider"]), ("model", r["model"]),
                                                  ("latency_p95", r["latency_p95"]), ("error_rate", r["error_rate"])])
            out.append(best)
            out.sort(key=statement_order)
            break
    return {"total": len(out),
            "insights": [dict([("kind", k), ("support", s)] + fields) for k, s, fields in out[:limit]]}


def queries(rng, views):
    """(method, path, body, status, expected answer) for the learning routes."""
    out = []
    for kind in PATTERNS:
        for limit in (None, 1, 3, rng.randint(1, 50), 10000):
            path = f"/v1/learning/patterns?type={kind}" + ("" if limit is None else f"&limit={limit}")
            out.append(("GET", path, None, 200, patterns(views, kind, 100 if limit is None else limit)))
    base = statements(views)
    for min_support in (None, 1, 2, 5, 20, rng.randint(1, 100), 10 ** 12):
        for limit in (None, 1, 10, 10000):
            params = [f"min_support={min_support}"] if min_support is not None else []
            params += [f"limit={limit}"] if limit is not None else []
            path = "/v1/learning/insights" + ("?" + "&".join(params) if params else "")
            out.append(("GET", path, None, 200,
                        insights(views, 5 if min_support is None else min_support, 50 if limit is None else limit,
                                 base)))
    return out


def error_queries():
    """(method, path, body, status, code) for the learning routes."""
    return [
        ("GET", "/v1/learning/patterns", None, 400, "bad_type"),
        ("GET", "/v1/learning/patterns?type=user_intents", None, 400, "bad_type"),
        ("GET", "/v1/learning/patterns?type=user_intent&limit=0", None, 400, "bad_limit"),
        ("GET", "/v1/learning/patterns?type=user_intent&limit=10001", None, 400, "bad_limit"),
        ("GET", "/v1/learning/patterns?type=user_intent&limit=2.0", None, 400, "bad_limit"),
        # Parameters are checked in the order listed: type before limit.
        ("GET", "/v1/learning/patterns?type=nope&limit=0", None, 400, "bad_type"),
        ("GET", "/v1/learning/patterns?type=user_intent&sort=asc", None, 400, "unknown_parameter"),
        ("GET", "/v1/learning/insights?min_support=0", None, 400, "bad_min_support"),
        ("GET", "/v1/learning/insights?min_support=-1", None, 400, "bad_min_support"),
        ("GET", "/v1/learning/insights?min_support=x&limit=0", None, 400, "bad_min_support"),
        ("GET", "/v1/learning/insights?limit=0", None, 400, "bad_limit"),
        ("GET", "/v1/learning/insights?limit=10001", None, 400, "bad_limit"),
        ("GET", "/v1/learning/insights?kind=entity_pair", None, 400, "unknown_parameter"),
        ("POST", "/v1/learning/insights", {}, 405, "method_not_allowed"),
    ]


# ---- POST /v1/analytics/query -------------------------------------------------

# Each view's fields: s = string (and timestamps), i = integer, f = number,
# x = a number summed in an order the engine may not share (compare with a
# tolerance only: never order, group or filter on it), b = boolean,
# a = array of strings, t = array of scalars, o = object.
FIELDS = {
    "conversation_snapshots": dict(conversation_id="s", user_id="s", session_id="s", message_count="i",
                                   user_messages="i", assistant_messages="i", total_tokens="i", first_ts="s",
                                   last_ts="s", last_seq="i", providers="a", entity_count="i"),
    "entity_cooccurrence": dict(a="s", b="s", count="i"),
    "provider_stats": dict(provider="s", model="s", hour="s", calls="i", errors="i", tokens_in="i",
                           tokens_out="i", cost_usd="x", latency_p50="i", latency_p95="i", latency_p99="i",
                           latency_avg="f"),
    "memory_state": dict(memory_id="s", content="s", user_id="s", tags="a", version="t"),
    "debate_stats": dict(debate_id="s", rounds="i", participants="a", mean_score="o", leader="s", consensus="b"),
    "entities": dict(entity_id="s", name="s", kind="s", properties="o", conversation_id="s", ts="s", event_id="s"),
    "relationships": dict(source_id="s", target_id="s", rel_type="s", weight="f", conversation_id="s", ts="s",
                          event_id="s"),
    "entity_directory": dict(id="s", name="s", kind="s", conversations="i", mentions="i", relationships="i"),
    "user_intents": dict(user_id="s", intent="s", messages="i", conversations="i", sessions="i", first_ts="s",
                         last_ts="s"),
    "user_preferences": dict(user_id="s", provider="s", messages="i", tokens="i", conversations="i", share="f"),
    "conversation_flow": dict(from_role="s", to_role="s", transitions="i", conversations="i"),
    "debate_strategies": dict(stance="s", rounds="i", debates="i", mean_score="x", providers="a", led="i",
                              consensus_debates="i"),
    "provider_performance": dict(provider="s", model="s", calls="i", errors="i", error_rate="f", tokens_in="i",
                                 tokens_out="i", cost_usd="x", latency_p50="i", latency_p95="i", latency_p99="i",
                                 latency_avg="f", cost_per_1k_tokens="x"),
}
SCALAR = "sifxb"


def sort_key(v):
    """Scalars: null last, numbers as numbers, strings by bytes, false < true."""
    if v is None:
        return (3,)
    if isinstance(v, bool):
        return (0, v)
    if isinstance(v, (int, float)):
        return (1, v)
    return (2, b(v))


def same(x, y):
    if isinstance(x, bool) or isinstance(y, bool):
        return x is y
    return x == y


def holds(row, w):
    v, op, val = row.get(w["field"]), w["op"], w["value"]
    if v is None:
        return op == "ne"
    if op == "eq":
        return same(v, val)
    if op == "ne":
        return not same(v, val)
    if op in ("lt", "le", "gt", "ge"):
        a, c = sort_key(v), sort_key(val)
        return {"lt": a < c, "le": a <= c, "gt": a > c, "ge": a >= c}[op]
    if op == "prefix":
        return b(v).startswith(b(val))
    if op == "contains":
        return val in v if isinstance(v, str) else any(same(x, val) for x in v)
    return any(same(v, x) for x in val)


def aggregate(a, rows, kind):
    if a["fn"] == "count":
        return len(rows)
    vals = [r.get(a["field"]) for r in rows if r.get(a["field"]) is not None]
    if a["fn"] == "sum":
        return sum(vals) if kind == "i" else float(sum(vals))
    if not vals:
        return None
    if a["fn"] == "avg":
        return sum(vals) / len(vals)
    pick = min if a["fn"] == "min" else max
    return pick(vals, key=sort_key)


def run_query(views, body):
    view = body["view"]
    rows = [r for r in key_order(views, view) if all(holds(r, w) for w in body.get("where", []))]
    groups, aggs = body.get("group_by", []), body.get("aggregates", [])
    if groups or aggs:
        buckets = {}
        for r in rows:
            buckets.setdefault(tuple(r.get(g) for g in groups), []).append(r)
        if not buckets and not groups:
            buckets[()] = []
        out = []
        for t in sorted(buckets, key=lambda t: [sort_key(v) for v in t]):
            row = dict(zip(groups, t))
            for a in aggs:
                row[a["as"]] = aggregate(a, buckets[t], FIELDS[view].get(a.get("field")))
            out.append(row)
        rows = out
    for k in reversed(body.get("order_by", [])):
        desc = k.get("desc", False)
        rows.sort(key=lambda r: sort_key(r.get(k["field"])), reverse=desc)
    return {"rows": rows[:body.get("limit", 1000)]}


def random_filter(rng, view, rows):
    fields = FIELDS[view]
    name = rng.choice([f for f, t in fields.items() if t in "sifba"])
    kind = fields[name]
    present = [r[name] for r in rows if r.get(name) is not None]
    sample = rng.choice(present) if present else None
    if kind == "b":
        op, value = rng.choice(["eq", "ne", "in"]), rng.random() < 0.5
        return {"field": name, "op": op, "value": [value] if op == "in" else value}
    if kind == "a":
        items = [x for v in present for x in v]
        return {"field": name, "op": "contains", "value": rng.choice(items) if items else "none"}
    if kind in "if":
        value = sample if sample is not None else 0
        return {"field": name, "op": rng.choice(["eq", "ne", "lt", "le", "gt", "ge"]), "value": value}
    value = sample if sample is not None else "x"
    op = rng.choice(["eq", "ne", "lt", "ge", "prefix", "contains", "in"])
    if op == "prefix":
        value = value[:rng.randint(0, max(0, len(value) - 1))]
    elif op == "contains":
        i = rng.randint(0, len(value))
        value = value[i:i + rng.randint(1, 3)]
    elif op == "in":
        value = [value] + [rng.choice(present) for _ in range(rng.randint(0, 3))] + ["no-such-value"]
    return {"field": name, "op": op, "value": value}


def random_query(rng, views, view):
    fields = FIELDS[view]
    rows = list(views[view].values())
    body = {"view": view}
    if rng.random() < 0.6:
        body["where"] = [random_filter(rng, view, rows) for _ in range(rng.randint(1, 2))]
    exact = [f for f, t in fields.items() if t in "sifb"]
    groupable = [f for f, t in fields.items() if t in "sib"]
    shape = rng.random()
    if shape < 0.4:
        body["group_by"] = rng.sample(groupable, rng.randint(1, min(2, len(groupable))))
    if shape < 0.2 or 0.4 <= shape < 0.6:
        aggs = [{"fn": "count", "as": "n"}]
        numeric = [f for f, t in fields.items() if t in "ifx"]
        ordered = [f for f, t in fields.items() if t in "sifx"]
        for i in range(rng.randint(0, 3)):
            fn = rng.choice(["sum", "avg", "min", "max"])
            pool = numeric if fn in ("sum", "avg") else ordered
            if pool:
                aggs.append({"fn": fn, "field": rng.choice(pool), "as": f"{fn}_{i}"})
        body["aggregates"] = aggs
    outputs = (body.get("group_by", []) + [a["as"] for a in body.get("aggregates", [])
                                            if a["fn"] == "count" or fields.get(a.get("field")) in "si"]
               if "group_by" in body or "aggregates" in body else exact)
    if outputs and rng.random() < 0.6:
        body["order_by"] = [{"field": rng.choice(outputs), "desc": rng.random() < 0.5}
                            for _ in range(rng.randint(1, 2))]
    if rng.random() < 0.5:
        body["limit"] = rng.choice([1, 2, 5, 50, 100000])
    return body


def analytics_queries(rng, views, count=150):
    out = []
    small = [v for v in FIELDS if len(views[v]) <= 20000]
    for i in range(count):
        view = rng.choice(small) if i % 25 else "entity_cooccurrence"
        body = random_query(rng, views, view)
        out.append(("POST", "/v1/analytics/query", body, 200, run_query(views, body)))
    # Unknown members are ignored: there is no way in for free-form SQL.
    ignored = {"view": "conversation_flow", "sql": "DROP TABLE conversation_flow", "where": None}
    out.append(("POST", "/v1/analytics/query", ignored, 200, run_query(views, {"view": "conversation_flow"})))
    return out


def analytics_error_queries():
    q = "/v1/analytics/query"
    return [
        ("POST", q, {}, 400, "bad_view"),
        ("POST", q, {"view": "nope"}, 400, "bad_view"),
        ("POST", q, {"view": 3}, 400, "bad_view"),
        ("POST", q, {"view": "provider_stats", "where": {"field": "calls"}}, 400, "bad_where"),
        ("POST", q, {"view": "provider_stats", "where": [{"field": "nope", "op": "eq", "value": 1}]}, 400, "bad_where"),
        ("POST", q, {"view": "provider_stats", "where": [{"field": "calls", "op": "like", "value": 1}]}, 400, "bad_where"),
        ("POST", q, {"view": "provider_stats", "where": [{"field": "calls", "op": "gt", "value": "1"}]}, 400, "bad_where"),
        ("POST", q, {"view": "provider_stats", "where": [{"field": "model", "op": "in", "value": "m"}]}, 400, "bad_where"),
        ("POST", q, {"view": "debate_stats", "where": [{"field": "consensus", "op": "ge", "value": True}]}, 400, "bad_where"),
        ("POST", q, {"view": "debate_stats", "where": [{"field": "mean_score", "op": "eq", "value": 1}]}, 400, "bad_where"),
        ("POST", q, {"view": "provider_stats", "where": [{"field": "calls", "op": "eq"}]}, 400, "bad_where"),
        ("POST", q, {"view": "provider_stats", "where": [5], "group_by": ["x"]}, 400, "bad_where"),
        ("POST", q, {"view": "provider_stats", "group_by": "provider"}, 400, "bad_group_by"),
        ("POST", q, {"view": "debate_stats", "group_by": ["participants"]}, 400, "bad_group_by"),
        ("POST", q, {"view": "provider_stats", "group_by": ["nope"], "limit": 0}, 400, "bad_group_by"),
        ("POST", q, {"view": "provider_stats", "aggregates": [{"fn": "median", "field": "calls", "as": "m"}]}, 400, "bad_aggregates"),
        ("POST", q, {"view": "provider_stats", "aggregates": [{"fn": "count", "field": "calls", "as": "n"}]}, 400, "bad_aggregates"),
        ("POST", q, {"view": "provider_stats", "aggregates": [{"fn": "sum", "as": "n"}]}, 400, "bad_aggregates"),
        ("POST", q, {"view": "provider_stats", "aggregates": [{"fn": "count"}]}, 400, "bad_aggregates"),
        ("POST", q, {"view": "provider_stats", "aggregates": [{"fn": "count", "as": "n"}, {"fn": "count", "as": "n"}]}, 400, "bad_aggregates"),
        ("POST", q, {"view": "provider_stats", "aggregates": [{"fn": "avg", "field": "model", "as": "n"}]}, 400, "bad_aggregates"),
        ("POST", q, {"view": "provider_stats", "order_by": [{"field": "nope"}]}, 400, "bad_order_by"),
        ("POST", q, {"view": "provider_stats", "order_by": [{"field": "calls", "desc": 1}]}, 400, "bad_order_by"),
        ("POST", q, {"view": "provider_stats", "group_by": ["provider"], "order_by": [{"field": "model"}]}, 400, "bad_order_by"),
        ("POST", q, {"view": "provider_stats", "limit": 0}, 400, "bad_limit"),
        ("POST", q, {"view": "provider_stats", "limit": 100001}, 400, "bad_limit"),
        ("POST", q, {"view": "provider_stats", "limit": 10.0}, 400, "bad_limit"),
        ("POST", q, b"[]", 400, "bad_body"),
        ("POST", q, b"", 400, "bad_body"),
        ("POST", q + "?view=provider_stats", {"view": "provider_stats"}, 400, "unknown_parameter"),
        ("GET", q, None, 405, "method_not_allowed"),
    ]


# ---- GET /v1/analytics/provider/{provider} and /v1/analytics/debate/{id} -----

def figures(calls):
    lat = sorted(c["latency_ms"] for c in calls)
    n = len(lat)
    pct = (lambda q: lat[max(1, math.ceil(q * n / 100)) - 1]) if n else (lambda q: None)
    return {"calls": n, "errors": sum(not c["success"] for c in calls),
            "tokens_in": sum(c["tokens_in"] for c in calls), "tokens_out": sum(c["tokens_out"] for c in calls),
            "cost_usd": math.fsum(c["cost_usd"] for c in calls),
            "latency_p50": pct(50), "latency_p95": pct(95), "latency_p99": pct(99),
            "latency_avg": sum(lat) / n if n else None}


def provider_answer(events, views, provider, start=None, end=None, model=None):
    def in_range(hour_ms, m):
        return (model is None or m == model) and (start is None or start <= hour_ms) and (end is None or hour_ms < end)
    calls = [e for e in events if e["type"] == "provider_call" and e["provider"] == provider
             and in_range(e["ts"] // 3600000 * 3600000, e["model"])]
    hours = [r for r in key_order(views, "provider_stats") if r["provider"] == provider
             and in_range(parse_ts(r["hour"]), r["model"])]
    by_model = {}
    for c in calls:
        by_model.setdefault(c["model"], []).append(c)
    models = [dict(model=m, **figures(by_model[m])) for m in sorted(by_model, key=b)]
    return {"hours": hours, "models": models, "overall": figures(calls)}


def debate_answer(events, views, debate):
    rounds = [e for e in events if e["type"] == "debate_round" and e["debate_id"] == debate]
    out = dict(views["debate_stats"][(debate,)])
    out["conversations"] = sorted({r["conversation_id"] for r in rounds}, key=b)
    detail = []
    for r in sorted(rounds, key=lambda r: (r["round"], b(r["provider"]), b(r["event_id"]))):
        d = {k: r[k] for k in ("round", "provider", "model", "score", "consensus", "event_id")}
        if r["stance"] is not None:
            d["stance"] = r["stance"]
        detail.append(d)
    out["rounds_detail"] = detail
    return out


def analytics_lookup_queries(rng, events, views):
    out = []
    providers = sorted({k[0] for k in views["provider_stats"]}, key=b)
    hours = sorted({parse_ts(r["hour"]) for r in views["provider_stats"].values()})
    for p in providers:
        out.append(("GET", f"/v1/analytics/provider/{q(p)}", None, 200, provider_answer(events, views, p)))
        models = sorted({k[1] for k in views["provider_stats"] if k[0] == p}, key=b)
        for _ in range(4):
            start = rng.choice(hours + [None]) if hours else None
            if start is not None:
                start += rng.choice([0, 1, -1])  # just after or before an hour's start
            end = rng.choice(hours + [None]) if hours else None
            m = rng.choice(models + [None, "no-such-model"])
            params = [f"{k}={q(v)}" for k, v in (("from", start is not None and fmt_ms(start)),
                                                 ("to", end is not None and fmt_ms(end)), ("model", m)) if v]
            path = f"/v1/analytics/provider/{q(p)}" + ("?" + "&".join(params) if params else "")
            out.append(("GET", path, None, 200, provider_answer(events, views, p, start, end, m)))
    debates = sorted((k[0] for k in views["debate_stats"]), key=b)
    for d in rng.sample(debates, min(40, len(debates))):
        out.append(("GET", f"/v1/analytics/debate/{q(d)}", None, 200, debate_answer(events, views, d)))
    return out


def analytics_lookup_error_queries():
    return [
        ("GET", "/v1/analytics/provider/no-such-provider", None, 404, "not_found"),
        ("GET", "/v1/analytics/provider/no-such-provider?from=yesterday", None, 400, "bad_from"),
        ("GET", "/v1/analytics/provider/openai?from=2026-01-30", None, 400, "bad_from"),
        ("GET", "/v1/analytics/provider/openai?to=2026-13-01T00:00:00Z", None, 400, "bad_to"),
        ("GET", "/v1/analytics/provider/openai?from=x&to=y", None, 400, "bad_from"),
        ("GET", "/v1/analytics/provider/openai?hour=1", None, 400, "unknown_parameter"),
        ("GET", "/v1/analytics/debate/no-such-debate", None, 404, "not_found"),
        ("GET", "/v1/analytics/debate/x?rounds=1", None, 400, "unknown_parameter"),
        ("POST", "/v1/analytics/debate/x", {}, 405, "method_not_allowed"),
    ]
