#!/usr/bin/env python3
"""Shuffles the lines of a JSONL file (seeded) and splits them into N files.

Usage: shuffle_split.py INPUT SEED N OUT_PREFIX  → OUT_PREFIX-0.jsonl ...
"""
import random
import sys

src, seed, parts, prefix = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
with open(src, encoding="utf-8") as f:
    lines = f.read().split("\n")
if lines and lines[-1] == "":
    lines.pop()
random.Random(seed).shuffle(lines)
per = (len(lines) + parts - 1) // parts
for i in range(parts):
    with open(f"{prefix}-{i}.jsonl", "w", encoding="utf-8") as out:
        out.write("\n".join(lines[i * per:(i + 1) * per]) + "\n")
