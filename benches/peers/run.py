"""Helixflow beside the engines users would pick instead, on the same input
in the same run: Helixflow (`replay`, -w 1 and -w 2), DuckDB, Pathway and
Bytewax, each computing the three results of duckdb_job.py.

1. Generates the input once with the project's generator (1M events times
   --scale; 1% exact duplicates, no malformed lines: only Helixflow
   validates, so malformed input would only cost it), or takes the user's
   own file (--input FILE): Helixflow reads it as it is, the peers (which
   do not validate) a copy without its malformed lines and duplicates
   (clean_for_peers), and the report says what was left out.
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
        "duckdb": (lambda i, o: [python, str(HERE / "duckdb_job.py"), i, o, threads], "csv-tab"),
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


def field(value):
    """One field of a normalised row: the value's text, with backslash, tab,
    newline and carriage return escaped, so any string (quotes included)
    is one field whatever engine wrote it. bytewax_job.py writes its fields
    this way itself."""
    return (str(value).replace("\\", "\\\\").replace("\t", "\\t")
            .replace("\n", "\\n").replace("\r", "\\r"))


def normalise(kind, out_dir, result, dest):
    """Writes one result as sorted TSV of normalised fields; returns its
    SHA-256. Each engine's own format is parsed as that format: Helixflow's
    JSON lines, DuckDB's tab-separated CSV (which quotes a field holding a
    double quote, CSV-style), Pathway's CSV, Bytewax's escaped TSV."""
    import csv
    out_dir, unsorted = Path(out_dir), dest.with_suffix(".unsorted")
    with open(unsorted, "w") as w:
        if kind == "helixflow":
            name, fields = HELIXFLOW_VIEWS[result]
            for line in open(out_dir / name):
                row = json.loads(line)
                w.write("\t".join(field(row[f]) for f in fields) + "\n")
        elif kind == "csv-tab":
            with open(out_dir / f"{result}.tsv", newline="") as f:
                for row in csv.reader(f, delimiter="\t"):
                    if row:
                        w.write("\t".join(field(v) for v in row) + "\n")
        elif kind == "tsv":
            for line in open(out_dir / f"{result}.tsv", newline=""):
                line = line.rstrip("\n")
                if line:
                    w.write(line + "\n")
        else:
            with open(out_dir / f"{result}.csv", newline="") as f:
                for row in csv.DictReader(f):
                    if row["diff"] == "1":
                        w.write("\t".join(field(row[c]) for c in PATHWAY_COLUMNS[result]) + "\n")
    subprocess.run(["sort", "-o", str(dest), str(unsorted)], check=True,
                   env={**os.environ, "LC_ALL": "C"})
    unsorted.unlink()
    h = hashlib.sha256()
    with open(dest, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def clean_for_peers(input_file, work):
    """The input without what only Helixflow handles, for the peers (DuckDB,
    Pathway, Bytewax do not validate events): malformed lines are left out
    (the contract's validation as scripts/check/contract_oracle.py decodes
    it, independently of the engine), and each idempotency key keeps one
    line: the copy with the greatest ts, the engine's first rule. Keys
    whose different payloads tie on ts are counted: the engine breaks that
    tie by a payload fingerprint this copy cannot compute, so the peers get
    the first such copy. Returns the clean file and what was left out."""
    sys.path.insert(0, str(HERE.parent.parent / "scripts" / "check"))
    from contract_oracle import Reject, decode
    best, order = {}, []
    counts = {"lines": 0, "malformed": 0, "duplicates": 0, "tied_conflicts": 0}
    tied = set()
    with open(input_file, "rb") as f:
        for raw in f:
            counts["lines"] += 1
            line = raw.rstrip(b"\n")
            try:
                e = decode(line.decode("utf-8"))
            except (Reject, UnicodeDecodeError):
                counts["malformed"] += 1
                continue
            payload = json.dumps({k: v for k, v in e.items() if k != "key"},
                                 sort_keys=True, default=str)
            held = best.get(e["key"])
            if held is None:
                best[e["key"]] = (e["ts"], payload, line)
                order.append(e["key"])
                continue
            counts["duplicates"] += 1
            if e["ts"] > held[0]:
                best[e["key"]] = (e["ts"], payload, line)
            elif e["ts"] == held[0] and payload != held[1]:
                tied.add(e["key"])
    counts["tied_conflicts"] = len(tied)
    counts["kept"] = len(order)
    clean = work / f"peers-{input_file.name}"
    with open(clean, "wb") as w:
        for key in order:
            w.write(best[key][2] + b"\n")
    return clean, counts


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=float, default=1.0, help="input = 1M events x scale")
    ap.add_argument("--input", help="a contract JSONL file of your own instead of generated "
                    "traffic (--scale is then ignored); the peers read a copy without its "
                    "malformed lines and duplicates")
    ap.add_argument("--realistic", action="store_true",
                    help="generate realistic traffic (helixflow generate --realistic: ~350-character "
                    "contents, ~500 bytes an event, ~6M pair incidences per 1M events) instead of "
                    "the generator's short default")
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
    cleaning = None
    if args.input:
        input_file = Path(args.input).resolve()
        peer_file, cleaning = clean_for_peers(input_file, work)
        events = cleaning["lines"]
        print(f"input {input_file}: {cleaning['lines']} lines; the peers read {peer_file} "
              f"({cleaning['kept']} distinct valid events: {cleaning['malformed']} malformed "
              f"lines and {cleaning['duplicates']} duplicates left out)", flush=True)
        if cleaning["tied_conflicts"]:
            print(f"  {cleaning['tied_conflicts']} keys have different payloads at one ts: "
                  "the peers get the first copy, which may not be the one Helixflow keeps",
                  flush=True)
    else:
        events = int(1_000_000 * args.scale)
        shape = ["--realistic"] if args.realistic else []
        input_file = work / f"events-{events}{'-realistic' if args.realistic else ''}.jsonl"
        if not input_file.exists():
            print(f"generating {events} events {' '.join(shape)} -> {input_file}", flush=True)
            subprocess.run([args.helixflow, "generate", "--events", str(events), "--seed", "42",
                            "--duplicate-ratio", "0.01", "--malformed-ratio", "0", *shape,
                            "--out", str(input_file)], check=True)
        peer_file = input_file
    mem_cap, table = args.mem_cap_gib * 2**30, engines(args)
    chosen = [e.strip() for e in args.engines.split(",")]
    report = {"events": events, "input": str(input_file), "peer_input": str(peer_file),
              "input_bytes": input_file.stat().st_size,
              "traffic": "own file" if args.input else ("realistic" if args.realistic else "short"),
              "peer_input_cleaning": cleaning, "runs": args.runs,
              "mem_cap_gib": args.mem_cap_gib, "time_limit_s": args.time_limit, "engines": {}}

    def input_of(name):
        """Helixflow validates and deduplicates; the peers read the clean copy."""
        return str(input_file if name.startswith("helixflow") else peer_file)

    reference = None
    for name in ["helixflow -w 2"] + [e for e in chosen if e != "helixflow -w 2"]:
        cmd, kind = table[name]
        out = work / ("out-" + name.replace(" ", "").replace("-", ""))
        subprocess.run(["rm", "-rf", str(out)], check=True)
        print(f"check run: {name}", flush=True)
        fig = run_capped(cmd(input_of(name), str(out)), mem_cap, args.time_limit, HERE)
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
            fig = run_capped(cmd(input_of(name), str(out)), mem_cap, args.time_limit, HERE)
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
    # An engine whose results differ from Helixflow's fails the run.
    return 1 if any(e["status"].startswith("results differ")
                    for e in report["engines"].values()) else 0


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
