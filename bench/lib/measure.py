#!/usr/bin/env python3
"""Runs commands alternately, N times each, and reports the median wall time and the peak
resident memory of each (from wait4's rusage, so per run, not per process tree maximum).

usage: measure.py RUNS NAME=CMD [NAME=CMD ...]   (CMD runs under bash -c, stdout discarded)
Prints one line per command: NAME median_ms min_ms max_rss_kib
"""
import os
import statistics
import sys
import time


def run_once(cmd):
    start = time.perf_counter()
    pid = os.posix_spawn("/bin/bash", ["bash", "-c", cmd + " >/dev/null"], os.environ)
    _, status, usage = os.wait4(pid, 0)
    elapsed = (time.perf_counter() - start) * 1000
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"measure: command failed ({os.waitstatus_to_exitcode(status)}): {cmd}")
    return elapsed, usage.ru_maxrss


def main():
    runs = int(sys.argv[1])
    cmds = [arg.split("=", 1) for arg in sys.argv[2:]]
    times = {name: [] for name, _ in cmds}
    rss = {name: 0 for name, _ in cmds}
    for name, cmd in cmds:  # warm-up: page cache, binary loading
        run_once(cmd)
    for _ in range(runs):
        for name, cmd in cmds:  # alternate so machine noise hits both alike
            ms, kib = run_once(cmd)
            times[name].append(ms)
            rss[name] = max(rss[name], kib)
    for name, _ in cmds:
        print(f"{name} {statistics.median(times[name]):.2f} {min(times[name]):.2f} {rss[name]}")


if __name__ == "__main__":
    main()
