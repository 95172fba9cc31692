#!/usr/bin/env python3
"""A real Prometheus server scrapes a running engine's /metrics; this reads
the scraped series back through Prometheus's HTTP API and checks them
against the engine's own /v1/health.

    prometheus_scrape.py PROMETHEUS_URL ENGINE_ADDR [METRIC ...]

Waits until Prometheus reports the target up and has scraped the engine's
current valid-event count, then checks that every METRIC (default: the
engine's core series) has at least one sample, that the component-state
series match /v1/bigdata/health, and that the request-duration histogram
is labelled by route pattern (the caller has read views before). Exit 1
with the reason otherwise.
"""

import json
import sys
import time
import urllib.parse
import urllib.request

CORE = [
    "helixflow_valid_events_total",
    "helixflow_source_lines_total",
    "helixflow_complete_epoch",
    "helixflow_component_state",
    "http_request_duration_seconds_count",
]


def get_json(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)


def query(prom, expr):
    url = f"{prom}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    answer = get_json(url)
    if answer.get("status") != "success":
        raise SystemExit(f"prometheus: query {expr!r} failed: {answer}")
    return answer["data"]["result"]


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    prom, engine = sys.argv[1].rstrip("/"), sys.argv[2]
    wanted = sys.argv[3:] or CORE
    health = get_json(f"http://{engine}/v1/health")
    valid = health["valid_events"]
    deadline = time.time() + 60
    scraped = None
    while time.time() < deadline:
        up = query(prom, 'up{job="helixflow"}')
        samples = query(prom, "helixflow_valid_events_total")
        if up and up[0]["value"][1] == "1" and samples:
            scraped = int(float(samples[0]["value"][1]))
            if scraped == valid:
                break
        time.sleep(0.5)
    if scraped != valid:
        raise SystemExit(
            f"prometheus: helixflow_valid_events_total scraped {scraped}, the engine's health says {valid}"
        )
    missing = [m for m in wanted if not query(prom, m)]
    if missing:
        raise SystemExit(f"prometheus: no samples of {', '.join(missing)}")
    components = get_json(f"http://{engine}/v1/bigdata/health")["components"]
    states = {"ok": 0, "degraded": 1, "down": 2}
    for c in components:
        expr = f'helixflow_component_state{{component="{c["component"]}",name="{c["name"]}"}}'
        got = query(prom, expr)
        if not got:
            raise SystemExit(f"prometheus: no {expr}")
        # The scrape may be a second older than the health read: a state
        # that differs must match on a later scrape.
        for _ in range(10):
            if int(float(got[0]["value"][1])) == states[c["state"]]:
                break
            time.sleep(1)
            got = query(prom, expr)
        else:
            raise SystemExit(f"prometheus: {expr} = {got[0]['value'][1]}, health says {c['state']}")
    routes = {
        s["metric"].get("route")
        for s in query(prom, "http_request_duration_seconds_count")
    }
    # Views were read: their requests count under the route's pattern, not
    # under each view's path.
    if "/v1/views/{name}" not in routes or any(r and r.startswith("/v1/views/") and "{" not in r for r in routes):
        raise SystemExit(f"prometheus: request routes are not by pattern: {sorted(map(str, routes))}")
    print(
        f"prometheus: scraped {len(wanted)} series; valid events {scraped} = /v1/health; "
        f"{len(components)} component states = /v1/bigdata/health; routes {sorted(routes)}"
    )


if __name__ == "__main__":
    main()
