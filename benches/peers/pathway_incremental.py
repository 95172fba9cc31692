"""Pathway's incremental figure, beside incremental-bench's for Helixflow:
after N events, how long until all three results (pathway_job.py's
`results`) reflect K more?

Pathway runs in streaming mode over a directory (`pw.io.jsonlines.read`,
`mode="streaming"`, commits every 10 ms). The first file holds the first N
events. A watcher counts the input rows, and `pw.io.subscribe` reports when
each of the three results has finished each of Pathway's logical times.
Once the count reaches N and every result has finished that time, the
driver waits 0.5 s. It then moves in a file with the next K events (written
beside the directory, then renamed into it) and times until the count
reaches N + K and every result has finished that time. This repeats
--updates times; it prints each time and the median, and writes JSON.

usage: pathway_incremental.py EVENTS.jsonl N K UPDATES WORK_DIR JSON_OUT [THREADS]
(EVENTS.jsonl must hold at least N + K x UPDATES lines.)
"""

import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

import pathway as pw

from pathway_job import Event, results


class Progress:
    """Input rows seen (with the time they reached the count) and the
    latest time each result finished."""

    def __init__(self, names):
        self.lock = threading.Condition()
        self.count, self.count_time = 0, 0
        self.ended = dict.fromkeys(names, -1)


def main():
    source, n, k, updates, work, json_out = sys.argv[1:7]
    n, k, updates, work = int(n), int(k), int(updates), Path(work)
    os.environ["PATHWAY_THREADS"] = sys.argv[7] if len(sys.argv) > 7 else "2"
    watched, staging = work / "watched", work / "staging"
    for d in (watched, staging):
        d.mkdir(parents=True, exist_ok=True)
        for f in d.iterdir():
            f.unlink()
    lines = []
    with open(source, "rb") as f:
        for line in f:
            lines.append(line)
            if len(lines) == n + k * updates:
                break
    (watched / "part-0000.jsonl").write_bytes(b"".join(lines[:n]))

    events = pw.io.jsonlines.read(str(watched), schema=Event, mode="streaming",
                                  autocommit_duration_ms=10)
    tables = dict(zip(("provider_stats", "conversations", "cooccurrence"), results(events)))
    progress = Progress(tables)
    counted = events.reduce(rows=pw.reducers.count())

    def on_count(key, row, time, is_addition):
        if is_addition:
            with progress.lock:
                progress.count, progress.count_time = row["rows"], time
                progress.lock.notify_all()

    pw.io.subscribe(counted, on_change=on_count)
    for name, table in tables.items():
        def on_end(time, name=name):
            with progress.lock:
                progress.ended[name] = max(progress.ended[name], time)
                progress.lock.notify_all()
        pw.io.subscribe(table, on_change=lambda *a, **kw: None, on_time_end=on_end)

    def drive():
        started = time.monotonic()
        wait_for(progress, n, 1800)
        initial = time.monotonic() - started
        print(f"{n} events reflected in every result after {initial:.2f} s", flush=True)
        took = []
        for u in range(updates):
            time.sleep(0.5)
            block = b"".join(lines[n + u * k:n + (u + 1) * k])
            staged = staging / f"part-{u + 1:04d}.jsonl"
            staged.write_bytes(block)
            t0 = time.monotonic()
            staged.rename(watched / staged.name)
            wait_for(progress, n + (u + 1) * k, 600)
            took.append((time.monotonic() - t0) * 1000)
            print(f"update {u + 1}: {k} events reflected in every result after "
                  f"{took[-1]:.1f} ms", flush=True)
        print(f"median of {updates}: {statistics.median(took):.1f} ms", flush=True)
        Path(json_out).write_text(json.dumps(
            {"events": n, "update": k, "initial_s": initial, "update_ms": took,
             "median_update_ms": statistics.median(took)}, indent=2))
        os._exit(0)

    threading.Thread(target=drive, daemon=True).start()
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)


def wait_for(progress, rows, limit):
    deadline = time.monotonic() + limit
    with progress.lock:
        while True:
            if progress.count >= rows and all(
                    t >= progress.count_time for t in progress.ended.values()):
                return
            left = deadline - time.monotonic()
            if left <= 0:
                print(f"gave up: {progress.count} of {rows} rows after {limit} s", flush=True)
                os._exit(1)
            progress.lock.wait(min(left, 0.001))


if __name__ == "__main__":
    main()
