#!/usr/bin/env python3
"""Runs commands alternately, N times each (after one warm-up run of each), and reports the
median wall time and the peak resident memory of each.

usage: measure.py [--time-only] RUNS NAME=CMD [NAME=CMD ...]   (CMD runs under bash -c, stdout discarded)
Prints one line per command: NAME median_ms min_ms max_rss_kib   (max_rss_kib `-` when not measured)

Peak memory is the largest single process of the command's tree (`ru_maxrss` from wait4), as
GNU time (/usr/bin/time, Debian's `time`) reports it for its child. It is measured through
GNU time because the rusage of a process that Python starts directly never reports less than
Python's own resident set (the kernel carries the parent's high-water mark across the exec),
which would put a floor of some 13 MiB under every figure. Without /usr/bin/time, or with
--time-only (start-up measurements, where the extra exec would count), memory is `-`.
"""
import os
import statistics
import sys
import tempfile
import time

GNU_TIME = "/usr/bin/time"


def run_once(cmd, memory):
    shell = ["/bin/bash", "-c", cmd + " >/dev/null"]
    if memory:
        fd, out = tempfile.mkstemp(prefix="measure-")
        os.close(fd)
        argv = [GNU_TIME, "-f", "%M", "-o", out] + shell
    else:
        argv = shell
    start = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, os.environ)
    _, status, _ = os.wait4(pid, 0)
    elapsed = (time.perf_counter() - start) * 1000
    kib = None
    if memory:
        with open(out) as f:
            lines = f.read().split()
        os.unlink(out)
        kib = int(lines[-1]) if lines and lines[-1].isdigit() else None
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"measure: command failed ({code}): {cmd}")
    return elapsed, kib


def main():
    args = sys.argv[1:]
    time_only = bool(args) and args[0] == "--time-only"
    if time_only:
        args = args[1:]
    runs = int(args[0])
    cmds = [arg.split("=", 1) for arg in args[1:]]
    memory = not time_only and os.access(GNU_TIME, os.X_OK)
    times = {name: [] for name, _ in cmds}
    rss = {name: None for name, _ in cmds}
    for name, cmd in cmds:  # warm-up: page cache, binary loading
        run_once(cmd, memory)
    for _ in range(runs):
        for name, cmd in cmds:  # alternate so machine noise hits both alike
            ms, kib = run_once(cmd, memory)
            times[name].append(ms)
            if kib is not None:
                rss[name] = max(rss[name] or 0, kib)
    for name, _ in cmds:
        kib = "-" if rss[name] is None else rss[name]
        print(f"{name} {statistics.median(times[name]):.2f} {min(times[name]):.2f} {kib}")


if __name__ == "__main__":
    main()
