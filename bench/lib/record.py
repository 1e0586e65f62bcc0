#!/usr/bin/env python3
"""Appends one benchmark result as a JSON line to the file named by $BENCH_RESULTS, which
`make bench` (bench/lib/run-all.sh) sets and bench/lib/table.py turns into docs/benchmarks.md.
Without BENCH_RESULTS it does nothing, so every bench script still runs on its own.

usage: record.py --tool T --case C --input I --command CMD --runs N
                 [--peer P (--peer-version V | --peer-version-of PROGRAM)]
                 [--ours-ms MS --peer-ms MS] [--ours-kib KIB --peer-kib KIB (`-`: not measured)] [--stat median|best]
                 [--value NAME=NUMBER[UNIT]]... [--target EXPR]... [--check NAME=ok|FAILED]...
                 [--note TEXT]

  speed-up = peer time / our time (above 1: we are faster); memory = our peak RSS / the peer's.
  --target takes `speedup>=50`, `memory<=0.25` or `NAME<=X` / `NAME>=X` for a --value NAME.
  --check records a correctness check the script made (same output, same objects found); a
  FAILED check makes the row, and `make bench`, fail.
A bad argument is an error (exit 2): a result that cannot be recorded must not vanish.
"""
import argparse
import json
import os
import re
import subprocess
import sys

TARGET = re.compile(r"^([a-z][a-z0-9_]*)(<=|>=)([0-9.]+)$")


def peer_version(program):
    """The program and the version it reports: `kubectl v1.36.3, kustomize v5.8.1`,
    `kustomize v5.8.2`, `skopeo 1.9.3`, `git 2.39.5`; else the first line of `PROGRAM --version`."""
    name = os.path.basename(program)
    try:
        if name == "kubectl":
            out = subprocess.run([program, "version", "--client", "-o", "json"],
                                 capture_output=True, text=True, check=True).stdout
            info = json.loads(out)
            version = "kubectl " + info["clientVersion"]["gitVersion"]
            if info.get("kustomizeVersion"):
                version += f", kustomize {info['kustomizeVersion']}"
            return version
        if name == "kustomize":
            return "kustomize " + subprocess.run([program, "version"], capture_output=True,
                                                 text=True, check=True).stdout.strip()
        out = subprocess.run([program, "--version"], capture_output=True, text=True,
                             check=True).stdout.strip().splitlines()[0]
        match = re.search(r"\bv?\d+\.\d+(\.\d+)?\S*", out)
        return f"{name} {match.group(0)}" if match else out
    except (OSError, subprocess.CalledProcessError, KeyError, ValueError, IndexError) as e:
        sys.exit(f"record: error: cannot ask {program} for its version: {e}")


def number(text, what):
    try:
        return float(text)
    except ValueError:
        sys.exit(f"record: error: {what}: not a number: {text!r}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tool", required=True)
    p.add_argument("--case", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--command", required=True)
    p.add_argument("--runs", required=True, type=int)
    p.add_argument("--peer")
    p.add_argument("--peer-version")
    p.add_argument("--peer-version-of")
    p.add_argument("--ours-ms")
    p.add_argument("--peer-ms")
    p.add_argument("--ours-kib")
    p.add_argument("--peer-kib")
    p.add_argument("--stat", default="median", choices=["median", "best"])
    p.add_argument("--value", action="append", default=[])
    p.add_argument("--target", action="append", default=[])
    p.add_argument("--check", action="append", default=[])
    p.add_argument("--note")
    a = p.parse_args()

    results = os.environ.get("BENCH_RESULTS")
    if not results:
        return
    rec = {"type": "result", "script": os.environ.get("BENCH_SCRIPT", ""), "tool": a.tool,
           "case": a.case, "input": a.input, "command": a.command, "runs": a.runs,
           "stat": a.stat}
    if a.peer:
        rec["peer"] = a.peer
        if a.peer_version:
            rec["peer_version"] = a.peer_version
        elif a.peer_version_of:
            rec["peer_version"] = peer_version(a.peer_version_of)
    for key in ["ours_ms", "peer_ms", "ours_kib", "peer_kib"]:
        value = getattr(a, key)
        # measure.py prints `-` for memory it could not measure (no GNU time): not recorded.
        if value is not None and not (key.endswith("kib") and value in ("", "-")):
            rec[key] = number(value, "--" + key.replace("_", "-"))
    if ("ours_ms" in rec) != ("peer_ms" in rec) and a.peer:
        sys.exit("record: error: --ours-ms and --peer-ms go together")
    values = {}
    for v in a.value:
        m = re.match(r"^([a-z][a-z0-9_]*)=([0-9.]+)(.*)$", v)
        if not m:
            sys.exit(f"record: error: --value {v!r}: expected NAME=NUMBER[UNIT]")
        values[m.group(1)] = {"value": number(m.group(2), v), "unit": m.group(3).strip()}
    if values:
        rec["values"] = values
    targets = []
    for t in a.target:
        m = TARGET.match(t.replace(" ", ""))
        if not m:
            sys.exit(f"record: error: --target {t!r}: expected NAME<=X or NAME>=X")
        name = m.group(1)
        if name == "speedup" and "peer_ms" not in rec:
            sys.exit(f"record: error: --target {t!r} needs --ours-ms and --peer-ms")
        if name == "memory" and "peer_kib" not in rec:
            sys.exit(f"record: error: --target {t!r} needs --ours-kib and --peer-kib")
        if name not in ("speedup", "memory") and name not in values:
            sys.exit(f"record: error: --target {t!r}: no --value {name}")
        targets.append({"name": name, "op": m.group(2), "limit": number(m.group(3), t)})
    if targets:
        rec["targets"] = targets
    checks = {}
    for c in a.check:
        name, sep, state = c.rpartition("=")
        if not sep or state not in ("ok", "FAILED"):
            sys.exit(f"record: error: --check {c!r}: expected NAME=ok or NAME=FAILED")
        checks[name] = state
    if checks:
        rec["checks"] = checks
    if a.note:
        rec["note"] = a.note
    with open(results, "a") as f:
        f.write(json.dumps(rec) + "\n")


if __name__ == "__main__":
    main()
