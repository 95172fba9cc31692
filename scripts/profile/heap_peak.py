"""Groups a heaptrack peak profile by the innermost frames that say who holds
the memory (docs/benchmarks.md, "Where the memory goes").

    heaptrack_print -f heaptrack.helixflow.N.zst --print-peaks 0 --print-allocators 0 \
        --print-temporary 0 --print-leaks 0 --flamegraph-cost-type peak -F peak.folded
    python3 scripts/profile/heap_peak.py peak.folded [TOP] [FRAMES]

Allocator, std and core frames are skipped; each line is MiB at the peak and
the FRAMES (default 3) innermost remaining frames, innermost first.
"""
import collections
import re
import sys

SKIP = ("alloc::", "core::", "std::", "hashbrown", "_RNv", "__rust", "<alloc", "_$LT$alloc",
        "mi_", "malloc", "realloc", "clone3", "start_thread", "_$LT$core", "_$LT$std")


def clean(frame):
    frame = re.sub(r"::h[0-9a-f]{16}", "", frame)
    for old, new in (("$u7b$$u7b$closure$u7d$$u7d$", "{c}"), ("$LT$", "<"), ("$GT$", ">"),
                     ("$C$", ","), ("$u20$", " "), ("..", "::")):
        frame = frame.replace(old, new)
    return re.sub(r" \([^)]*\.rs\)", "", frame)[:110]


def main():
    path = sys.argv[1]
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 15
    depth = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    groups, total = collections.Counter(), 0
    with open(path) as lines:
        for line in lines:
            stack, _, count = line.rstrip().rpartition(" ")
            total += int(count)
            frames = [f for f in stack.split(";")
                      if not f.startswith(SKIP) and "raw_vec" not in f and "alloc::vec" not in f]
            key = " <- ".join(clean(f) for f in reversed(frames[-depth:])) if frames else "?"
            groups[key] += int(count)
    print(f"peak heap {total / 2**20:.1f} MiB")
    for key, count in groups.most_common(top):
        print(f"{count / 2**20:8.1f}  {key}")


if __name__ == "__main__":
    main()
