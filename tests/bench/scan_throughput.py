#!/usr/bin/env python3
"""Measures `skill-scanner scan-all` throughput in skills per second over the shared corpus.

Usage: tests/bench/scan_throughput.py [--binary PATH] [--copies N] [--runs N] [--corpus DIR]

The corpus (33 skills) is copied N times into a temporary folder so one run scans enough
skills for a stable figure; each run is the whole command, start-up and rule compilation
included, as a CI job would see it. Prints a table and the median.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target")), "release", "skill-scanner"))
    parser.add_argument("--corpus", default=os.path.join(REPO, "..", "shared", "corpus"))
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    if not os.path.isfile(args.binary):
        sys.exit(f"binary not found: {args.binary} (build it with `cargo build --release`)")
    if not os.path.isdir(args.corpus):
        sys.exit(f"corpus not found: {args.corpus}")

    with tempfile.TemporaryDirectory() as scratch:
        skills = 0
        for copy in range(args.copies):
            for group in ("benign", "labeled"):
                source = os.path.join(args.corpus, group)
                for name in sorted(os.listdir(source)):
                    path = os.path.join(source, name)
                    if os.path.isfile(os.path.join(path, "SKILL.md")):
                        shutil.copytree(path, os.path.join(scratch, f"copy{copy}", group, name))
                        skills += 1

        rates = []
        print(f"{'run':>3}  {'skills':>6}  {'seconds':>8}  {'skills/s':>9}")
        for run in range(1, args.runs + 1):
            started = time.perf_counter()
            completed = subprocess.run(
                [args.binary, "scan-all", scratch, "--recursive", "--format", "json", "--output", os.devnull],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            seconds = time.perf_counter() - started
            if completed.returncode not in (0, 1):
                sys.exit(f"scan-all failed with status {completed.returncode}: {completed.stderr.decode(errors='replace')}")
            rates.append(skills / seconds)
            print(f"{run:>3}  {skills:>6}  {seconds:>8.3f}  {skills / seconds:>9.1f}")
        print(f"median: {statistics.median(rates):.1f} skills/s over {args.runs} runs of {skills} skills ({os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
