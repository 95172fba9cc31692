"""Helixflow beside the engines users would pick instead, on the same input
in the same run: Helixflow (`replay`, -w 1 and -w 2), DuckDB, Pathway and
Bytewax, each computing the three results of duckdb_job.py.

1. Generates the input once with the project's generator (1M events times
   --scale; 1% exact duplicates, no malformed lines: only Helixflow
   validates, so malformed input would only cost it).
2. Check run: every engine once; its three results, normalised to sorted
   TSV, must equal Helixflow's view files (provider_stats, conversation
   snapshots, entity co-occurrence) before any time counts. An engine whose
   results differ is reported as such and not timed.
3. Timed runs (--runs, median kept): wall time, CPU time (user + system,
   from wait4), peak RSS (wait4's ru_maxrss), events/s, and ratios to
   Helixflow -w 2. Every run is under a memory cap (RSS polled every 50 ms)
   and a time limit; a run over either is killed and reported as "did not
   finish", with how long it ran and its RSS then.

Prints a table and writes JSON (--json). Run through bench.sh, which sets
up the pinned virtual environment and builds Helixflow.

With --incremental it measures instead how long an update of 10K events
takes to reach every result after the input's events: Helixflow's
incremental-bench (a file followed, every view on) and
pathway_incremental.py (Pathway in streaming mode over a directory), each
under the same caps.
"""

import argparse
import hashlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = ("provider_stats", "conversations", "cooccurrence")
HELIXFLOW_VIEWS = {
    "provider_stats": ("provider_stats.jsonl",
                       ("provider", "model", "hour", "calls", "tokens_in", "tokens_out",
                        "latency_p95")),
    "conversations": ("conversation_snapshots.jsonl",
                      ("conversation_id", "message_count", "total_tokens")),
    "cooccurrence": ("entity_cooccurrence.jsonl", ("a", "b", "count")),
}
PATHWAY_COLUMNS = {
    "provider_stats": ("provider", "model", "hour", "calls", "tokens_in", "tokens_out",
                       "latency_p95"),
    "conversations": ("conversation_id", "message_count", "total_tokens"),
    "cooccurrence": ("a", "b", "count"),
}


def engines(args):
    """name -> (command for an input file and output dir, output format)."""
    threads, python, helixflow = str(args.threads), args.python, args.helixflow
    return {
        "helixflow -w 1": (lambda i, o: [helixflow, "replay", "--quiet", "-w", "1", "--out", o, i],
                           "helixflow"),
        "helixflow -w 2": (lambda i, o: [helixflow, "replay", "--quiet", "-w", "2", "--out", o, i],
                           "helixflow"),
        "duckdb": (lambda i, o: [python, str(HERE / "duckdb_job.py"), i, o, threads], "tsv"),
        "pathway": (lambda i, o: [python, str(HERE / "pathway_job.py"), i, o, threads], "pathway"),
        "bytewax": (lambda i, o: ["env", f"HX_EVENTS={i}", f"HX_OUT={o}", python, "-m",
                                  "bytewax.run", "bytewax_job:flow", "-w", threads], "tsv"),
    }


def run_capped(cmd, mem_cap, time_limit, cwd):
    """Runs cmd; returns a dict of figures, with `dnf` set if it was killed."""
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    dnf, rss_at_kill = None, 0
    while True:
        # wait4 (not poll, which would reap the child) for its rusage.
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        rss = tree_rss(proc.pid)
        elapsed = time.monotonic() - started
        if rss > mem_cap:
            dnf, rss_at_kill = f"memory over {mem_cap / 2**30:.0f} GiB", rss
        elif elapsed > time_limit:
            dnf, rss_at_kill = f"time over {time_limit:.0f} s", rss
        if dnf:
            os.killpg(proc.pid, signal.SIGKILL)
            _, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.05)
    wall = time.monotonic() - started
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    out = {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime,
           "peak_rss_mib": usage.ru_maxrss / 1024}
    if dnf:
        out.update(dnf=dnf, rss_at_kill_mib=rss_at_kill / 2**20)
    elif status != 0:
        out.update(dnf=f"exit status {os.waitstatus_to_exitcode(status)}: "
                       f"{stderr.strip()[-400:]}")
    return out


def tree_rss(pid):
    """Resident bytes of a process and its descendants."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo.extend(int(c) for c in f.read().split())
        except (FileNotFoundError, ProcessLookupError, ValueError):
            pass
    return total


def normalise(kind, out_dir, result, dest):
    """Writes one result as sorted TSV; returns its SHA-256."""
    out_dir, unsorted = Path(out_dir), dest.with_suffix(".unsorted")
    with open(unsorted, "w") as w:
        if kind == "helixflow":
            name, fields = HELIXFLOW_VIEWS[result]
            for line in open(out_dir / name):
                row = json.loads(line)
                w.write("\t".join(str(row[f]) for f in fields) + "\n")
        elif kind == "tsv":
            for line in open(out_dir / f"{result}.tsv"):
                if line.strip():
                    w.write(line if line.endswith("\n") else line + "\n")
        else:
            import csv
            with open(out_dir / f"{result}.csv", newline="") as f:
                for row in csv.DictReader(f):
                    if row["diff"] == "1":
                        w.write("\t".join(row[c] for c in PATHWAY_COLUMNS[result]) + "\n")
    subprocess.run(["sort", "-o", str(dest), str(unsorted)], check=True,
                   env={**os.environ, "LC_ALL": "C"})
    unsorted.unlink()
    h = hashlib.sha256()
    with open(dest, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=float, default=1.0, help="input = 1M events x scale")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--mem-cap-gib", type=float, default=8)
    ap.add_argument("--time-limit", type=float, default=600, help="seconds per run")
    ap.add_argument("--threads", type=int, default=2, help="threads/workers for the peers")
    ap.add_argument("--engines", default="helixflow -w 1,helixflow -w 2,duckdb,pathway,bytewax")
    ap.add_argument("--work", default=str(Path.home() / ".cache/helixflow-peers/work"))
    ap.add_argument("--python", required=True, help="the virtual environment's python")
    ap.add_argument("--helixflow", required=True, help="the release helixflow binary")
    ap.add_argument("--json", default="peer-bench.json")
    ap.add_argument("--incremental", action="store_true",
                    help="measure 10K-event updates after the input (Helixflow vs Pathway)")
    ap.add_argument("--incremental-bench", help="the release incremental-bench binary")
    args = ap.parse_args()
    if args.incremental:
        return incremental(args)

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    events = int(1_000_000 * args.scale)
    input_file = work / f"events-{events}.jsonl"
    if not input_file.exists():
        print(f"generating {events} events -> {input_file}", flush=True)
        subprocess.run([args.helixflow, "generate", "--events", str(events), "--seed", "42",
                        "--duplicate-ratio", "0.01", "--malformed-ratio", "0",
                        "--out", str(input_file)], check=True)
    mem_cap, table = args.mem_cap_gib * 2**30, engines(args)
    chosen = [e.strip() for e in args.engines.split(",")]
    report = {"events": events, "input": str(input_file), "runs": args.runs,
              "mem_cap_gib": args.mem_cap_gib, "time_limit_s": args.time_limit, "engines": {}}

    reference = None
    for name in ["helixflow -w 2"] + [e for e in chosen if e != "helixflow -w 2"]:
        cmd, kind = table[name]
        out = work / ("out-" + name.replace(" ", "").replace("-", ""))
        subprocess.run(["rm", "-rf", str(out)], check=True)
        print(f"check run: {name}", flush=True)
        fig = run_capped(cmd(str(input_file), str(out)), mem_cap, args.time_limit, HERE)
        entry = report["engines"].setdefault(name, {"check": fig, "runs": []})
        if "dnf" in fig:
            entry["status"] = f"did not finish: {fig['dnf']} (after {fig['wall_s']:.1f} s)"
            print(f"  {entry['status']}", flush=True)
            continue
        digests = {r: normalise(kind, out, r, work / f"{out.name}.{r}.tsv") for r in RESULTS}
        if reference is None:
            reference = digests
        differ = [r for r in RESULTS if digests[r] != reference[r]]
        if differ:
            entry["status"] = f"results differ from Helixflow's: {', '.join(differ)}"
            print(f"  {entry['status']}", flush=True)
            continue
        entry["status"] = "ok"
        print("  results equal Helixflow's", flush=True)

    for name in chosen:
        entry = report["engines"][name]
        if entry["status"] != "ok":
            continue
        cmd, _ = table[name]
        out = work / ("out-" + name.replace(" ", "").replace("-", ""))
        for i in range(args.runs):
            subprocess.run(["rm", "-rf", str(out)], check=True)
            fig = run_capped(cmd(str(input_file), str(out)), mem_cap, args.time_limit, HERE)
            entry["runs"].append(fig)
            print(f"{name} run {i + 1}: " + (fig.get("dnf") or
                  f"{fig['wall_s']:.2f} s wall, {fig['cpu_s']:.2f} s CPU, "
                  f"{fig['peak_rss_mib']:.0f} MiB"), flush=True)
        done = [r for r in entry["runs"] if "dnf" not in r]
        if len(done) < len(entry["runs"]):
            entry["status"] = "did not finish in every run"
        if done:
            entry["median"] = {k: statistics.median(r[k] for r in done)
                               for k in ("wall_s", "cpu_s", "peak_rss_mib")}
            entry["median"]["events_per_s"] = events / entry["median"]["wall_s"]

    base = report["engines"].get("helixflow -w 2", {}).get("median")
    print(f"\n{events} events, median of {args.runs} runs, cap {args.mem_cap_gib:.0f} GiB / "
          f"{args.time_limit:.0f} s per run")
    print(f"{'engine':<16}{'wall s':>9}{'CPU s':>9}{'peak RSS MiB':>14}{'events/s':>12}"
          f"{'wall vs hx-w2':>15}{'RSS vs hx-w2':>14}")
    for name in chosen:
        entry = report["engines"][name]
        m = entry.get("median")
        if not m:
            print(f"{name:<16}{entry['status']}")
            continue
        if base:
            m["wall_ratio_to_helixflow_w2"] = m["wall_s"] / base["wall_s"]
            m["rss_ratio_to_helixflow_w2"] = m["peak_rss_mib"] / base["peak_rss_mib"]
        print(f"{name:<16}{m['wall_s']:>9.2f}{m['cpu_s']:>9.2f}{m['peak_rss_mib']:>14.0f}"
              f"{m['events_per_s']:>12,.0f}{m.get('wall_ratio_to_helixflow_w2', 0):>14.2f}x"
              f"{m.get('rss_ratio_to_helixflow_w2', 0):>13.2f}x")
    Path(args.json).write_text(json.dumps(report, indent=2))
    print(f"\nfigures written to {args.json}")


def incremental(args, update=10_000, updates=5):
    """Helixflow's and Pathway's time until a 10K-event update is reflected."""
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    events = int(1_000_000 * args.scale)
    total = events + update * updates
    input_file = work / f"events-{total}.jsonl"
    if not input_file.exists():
        subprocess.run([args.helixflow, "generate", "--events", str(total), "--seed", "42",
                        "--duplicate-ratio", "0.01", "--malformed-ratio", "0",
                        "--out", str(input_file)], check=True)
    mem_cap, report = args.mem_cap_gib * 2**30, {"events": events, "update": update}
    runs = {
        "helixflow -w 2": [args.incremental_bench, "--events", str(events), "--update",
                           str(update), "--updates", str(updates), "-w", "2",
                           "--json", str(work / "helixflow-incremental.json")],
        "pathway": [args.python, str(HERE / "pathway_incremental.py"), str(input_file),
                    str(events), str(update), str(updates), str(work / "pathway-incremental"),
                    str(work / "pathway-incremental.json"), str(args.threads)],
    }
    print(f"{events} events, then {updates} updates of {update}; "
          f"cap {args.mem_cap_gib:.0f} GiB / {args.time_limit:.0f} s")
    for name, cmd in runs.items():
        fig = run_capped(cmd, mem_cap, args.time_limit, HERE)
        out = work / ("helixflow-incremental.json" if name.startswith("helixflow")
                      else "pathway-incremental.json")
        if "dnf" in fig or not out.exists():
            report[name] = {"status": f"did not finish: {fig.get('dnf', 'no figures')}", **fig}
        else:
            report[name] = {**json.loads(out.read_text()), "peak_rss_mib": fig["peak_rss_mib"]}
            out.unlink()
        r = report[name]
        print(f"{name:<16}" + (r["status"] if "status" in r else
              f"initial {r['initial_s']:.2f} s, update median {r['median_update_ms']:.1f} ms "
              f"({' / '.join(f'{t:.0f}' for t in r['update_ms'])} ms), "
              f"peak RSS {r['peak_rss_mib']:.0f} MiB"), flush=True)
    Path(args.json).write_text(json.dumps(report, indent=2))
    print(f"figures written to {args.json}")


if __name__ == "__main__":
    sys.exit(main())
