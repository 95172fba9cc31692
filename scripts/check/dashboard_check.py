#!/usr/bin/env python3
"""Checks the Grafana dashboard and the Prometheus alert rules of
docker-compose.bigdata.yml, and names the metrics they read.

    dashboard_check.py check   every panel has a title, a grid position and
                               targets with a PromQL expression, reading the
                               provisioned Prometheus datasource (by uid);
                               the dashboard provider's path is where the
                               compose file mounts the dashboards
    dashboard_check.py names   prints the metric names the dashboard and the
                               alerts read, one per line (for
                               prometheus_scrape.py, which checks a real
                               Prometheus has scraped each from the engine)

Exit 1 with the reason on a problem.
"""

import json
import re
import sys

DASHBOARD = "deploy/grafana/dashboards/helixflow.json"
DATASOURCES = "deploy/grafana/provisioning/datasources/prometheus.yml"
PROVIDERS = "deploy/grafana/provisioning/dashboards/helixflow.yml"
ALERTS = "deploy/prometheus/alerts.yml"
COMPOSE = "docker-compose.bigdata.yml"

# Words in PromQL that are not metric names.
PROMQL = {
    "sum", "max", "min", "avg", "by", "rate", "increase", "changes", "histogram_quantile",
    "le", "process", "topic", "sink", "view", "strategy", "component", "name", "job",
    "and", "or", "unless", "without", "on", "ignoring", "group_left", "group_right",
}


def fail(message):
    raise SystemExit(f"dashboard check: {message}")


def exprs():
    dashboard = json.load(open(DASHBOARD))
    out = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    out += re.findall(r"^\s*expr:\s*(.+)$", open(ALERTS).read(), re.M)
    return dashboard, out


def metric_names(expressions):
    names = set()
    for e in expressions:
        # Drop label matchers, durations and strings, then take identifiers.
        e = re.sub(r"\{[^}]*\}", "", e)
        e = re.sub(r"\[[^\]]*\]", "", e)
        e = re.sub(r'"[^"]*"', "", e)
        for word in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", e):
            if word not in PROMQL:
                names.add(word)
    return sorted(names)


def check():
    dashboard, _ = exprs()
    uid = re.search(r"^\s*uid:\s*(\S+)", open(DATASOURCES).read(), re.M)
    if not uid:
        fail(f"{DATASOURCES}: no datasource uid")
    uid = uid.group(1)
    if not dashboard.get("uid") or not dashboard.get("title"):
        fail(f"{DASHBOARD}: the dashboard needs a uid and a title")
    if not dashboard["panels"]:
        fail(f"{DASHBOARD}: no panels")
    for p in dashboard["panels"]:
        where = f"{DASHBOARD}: panel {p.get('id')} ({p.get('title')!r})"
        if not p.get("title") or not {"x", "y", "w", "h"} <= set(p.get("gridPos", {})):
            fail(f"{where}: needs a title and a gridPos")
        if p.get("datasource", {}).get("uid") != uid:
            fail(f"{where}: reads datasource {p.get('datasource')}, not the provisioned {uid!r}")
        if not p.get("targets"):
            fail(f"{where}: no targets")
        for t in p["targets"]:
            if not t.get("expr", "").strip():
                fail(f"{where}: target {t.get('refId')} has no expression")
    path = re.search(r"^\s*path:\s*(\S+)", open(PROVIDERS).read(), re.M)
    if not path or f":{path.group(1)}:ro" not in open(COMPOSE).read():
        fail(f"{PROVIDERS}: its path is not where {COMPOSE} mounts the dashboards")
    titles = [p["title"] for p in dashboard["panels"]]
    print(f"dashboard check: {len(titles)} panels, datasource {uid}: {', '.join(titles)}")


def main():
    if sys.argv[1:] == ["check"]:
        check()
    elif sys.argv[1:] == ["names"]:
        _, expressions = exprs()
        print("\n".join(n for n in metric_names(expressions) if n != "up"))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
