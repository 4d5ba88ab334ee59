#!/usr/bin/env python3
"""Fuzz targets until their coverage stops growing.

Runs each named target (built beforehand with `cargo +nightly fuzz build -O`) on its
corpus, one process per worker, and stops it with SIGINT (libFuzzer then prints its
final statistics and exits cleanly) once its edge coverage ("cov:") has not grown for
--window seconds, or after --max seconds, or at --deadline. Every output line is
written, prefixed with the seconds since the start, to logs/TARGET.log; one JSON line
per finished run goes to logs/summary.jsonl and a Markdown table row to stdout.

    cd fuzz
    cargo +nightly fuzz build -O
    python3 plateau.py --window 600 --max 7200 --workers 2 dns report custody decode
    python3 plateau.py --window 600 --max 7200 --helpers 1 directory

With --helpers N, N more processes fuzz the same corpus beside each run (libFuzzer's
parallel mode: every process rereads the corpus directory each second, -reload=1).
The run's own process is the one measured: an input a helper finds reaches it as a
RELOAD line, so its "cov:" is the coverage of the shared corpus. The helpers log to
logs/TARGET.helperK.log and are stopped with it.

An empty corpus is seeded from seeds/TARGET and the repository files named in SEEDS
and SPLIT_SEEDS; the case-file targets are seeded by seed-case.sh.
Anything other than a clean stop (a crash, a timeout, a memory limit) leaves its input
in artifacts/TARGET/ and shows in the row with libFuzzer's exit code; a stop by
SIGINT exits 72 (libFuzzer's interrupted exit code), which counts as clean.
"""

import argparse
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.join(HERE, "target", "x86_64-unknown-linux-gnu", "release")
INTERRUPTED = 72
STATUS = re.compile(r"^#(\d+)\s+(\w+)\s+cov: (\d+) ft: (\d+)")
FINAL = re.compile(r"^stat::(number_of_executed_units|peak_rss_mb):\s+(\d+)")


# Seeds besides seeds/TARGET, relative to this directory. The case-file targets
# (custody, manifest, case_info, tsp_request, tsp_reply) have none in the repository:
# seed them from a sealed case with seed-case.sh.
SEEDS = {
    "capture": ["../captures/*.pcap", "../captures/*.pcapng"],
    "feed": ["../tests/fixtures/feeds/*"],
    "directory": ["../data/providers.toml"],
    "claimant": ["../data/claimant.example.toml", "../tests/fixtures/letter/claimant.toml"],
    "report": ["../tests/fixtures/letter/demo-report.json"],
}


# Seeds cut from one file into pieces, each a complete input on its own: the file's
# preamble (everything before the first separator) followed by one section, added to
# the whole file. The directory in one piece is 133 KB with 104 hostname patterns, all
# compiled by every run; mutations of one provider run far faster. The whole file stays
# a seed: it reaches edges that neither the pieces (5,408 edges alone, 5,571 with it)
# nor two hours of fuzzing them (15,339, 15,478 with it) reach.
SPLIT_SEEDS = {
    "directory": ("../data/providers.toml", "\n[[provider]]\n"),
}


def split_seed(path, separator, corpus):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    preamble, *sections = text.split(separator)
    name = os.path.splitext(os.path.basename(path))[0]
    for i, section in enumerate(sections, 1):
        with open(os.path.join(corpus, f"{name}-{i:03}"), "w", encoding="utf-8") as f:
            f.write(preamble + separator + section)


def seed(target):
    corpus = os.path.join(HERE, "corpus", target)
    os.makedirs(corpus, exist_ok=True)
    if os.listdir(corpus):
        return corpus
    patterns = [os.path.join("seeds", target, "*")] + SEEDS.get(target, [])
    for pattern in patterns:
        for path in sorted(glob.glob(os.path.join(HERE, pattern))):
            if os.path.isfile(path):
                shutil.copy(path, corpus)
    if target in SPLIT_SEEDS:
        path, separator = SPLIT_SEEDS[target]
        split_seed(os.path.join(HERE, path), separator, corpus)
    if target == "feed":
        # The real feeds of the bundled snapshot, decompressed.
        for path in sorted(glob.glob(os.path.join(HERE, "../data/feeds/*.zst"))):
            name = os.path.basename(path)[: -len(".zst")]
            with open(os.path.join(corpus, name), "wb") as out:
                subprocess.run(["zstd", "-d", "-c", "-q", path], stdout=out, check=True)
    return corpus


def run(target, args, stop_at):
    binary = os.path.join(BIN, target)
    if not os.access(binary, os.X_OK):
        sys.exit(f"plateau.py: {binary} missing; run `cargo +nightly fuzz build -O` first")
    corpus = seed(target)
    artifacts = os.path.join(HERE, "artifacts", target)
    os.makedirs(artifacts, exist_ok=True)
    before = set(os.listdir(artifacts))
    cmd = [
        binary,
        f"-artifact_prefix={artifacts}/",
        f"-rss_limit_mb={args.rss_limit_mb}",
        f"-malloc_limit_mb={args.malloc_limit_mb}",
        f"-timeout={args.timeout}",
        f"-max_total_time={args.max}",
        "-print_final_stats=1",
        corpus,
    ]
    log = open(os.path.join(args.logs, f"{target}.log"), "w")
    log.write(" ".join(cmd) + "\n")
    log.flush()
    start = time.monotonic()
    helpers = []
    for k in range(1, args.helpers + 1):
        path = os.path.join(args.logs, f"{target}.helper{k}.log")
        with open(path, "w") as out:
            out.write(" ".join(cmd) + "\n")
            out.flush()
            helpers.append((path, subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)))
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
    )
    s = {"inited": None, "cov": 0, "ft": 0, "runs": 0, "grew": None, "grew_runs": 0}

    def read():
        for line in proc.stdout:
            now = time.monotonic() - start
            log.write(f"[{now:8.1f}] {line}")
            f = FINAL.match(line)
            if f:
                s[f[1]] = int(f[2])
            m = STATUS.match(line)
            if not m:
                continue
            runs, kind, cov, ft = int(m[1]), m[2], int(m[3]), int(m[4])
            if kind == "INITED":
                s.update(inited=now, init_cov=cov, init_ft=ft, grew=now, grew_runs=runs)
            elif s["inited"] is not None and cov > s["cov"]:
                s.update(grew=now, grew_runs=runs)
            s.update(cov=max(s["cov"], cov), ft=max(s["ft"], ft), runs=runs)

    reader = threading.Thread(target=read)
    reader.start()
    reason, interrupted = f"max_total_time {args.max} s", False
    while proc.poll() is None:
        time.sleep(2)
        now = time.monotonic()
        if s["grew"] is not None and now - start - s["grew"] >= args.window:
            reason = f"no new edge for {args.window} s"
        elif now >= stop_at:
            reason = "deadline"
        else:
            continue
        proc.send_signal(signal.SIGINT)
        interrupted = True
        break
    proc.wait()
    reader.join()
    log.close()
    secs = time.monotonic() - start
    helper_runs, helper_rss, helper_exits, helpers_clean = 0, 0, [], True
    for path, h in helpers:
        stopped = h.poll() is None
        if stopped:
            h.send_signal(signal.SIGINT)
        h.wait()
        helper_exits.append(h.returncode)
        helpers_clean &= clean_exit(h.returncode, stopped)
        with open(path, errors="replace") as f:
            for line in f:
                m = FINAL.match(line)
                if m and m[1] == "number_of_executed_units":
                    helper_runs += int(m[2])
                elif m:
                    helper_rss = max(helper_rss, int(m[2]))
    rec = {
        "target": target,
        "exit": proc.returncode,
        "clean": clean_exit(proc.returncode, interrupted) and helpers_clean,
        "stopped": reason,
        "secs": round(secs),
        "runs": s.get("number_of_executed_units", s["runs"]),
        "peak_rss_mb": s.get("peak_rss_mb"),
        "cov_start": s.get("init_cov"),
        "cov_end": s["cov"],
        "ft_start": s.get("init_ft"),
        "ft_end": s["ft"],
        "last_new_edge_s": None if s["grew"] is None else round(s["grew"]),
        "artifacts": sorted(set(os.listdir(artifacts)) - before),
    }
    if helpers:
        rec.update(helpers=len(helpers), helper_exits=helper_exits, helper_runs=helper_runs,
                   helper_peak_rss_mb=helper_rss)
    return rec


def clean_exit(code, interrupted):
    """A libFuzzer process ended by its own time limit, or by our SIGINT."""
    return code == 0 or (interrupted and code == INTERRUPTED)


def ok(r):
    return r["clean"] and not r["artifacts"]


def row(r):
    result = "no failure" if ok(r) else f"exit {r['exit']}, new artifacts {r['artifacts']}"
    n = lambda v: "?" if v is None else f"{v:,}"
    return (
        f"| {r['target']} | {r['secs']} s, stopped: {r['stopped']} | {n(r['runs'])} "
        f"| {n(r['cov_start'])} → {n(r['cov_end'])} / {n(r['ft_start'])} → {n(r['ft_end'])} "
        f"| {n(r['last_new_edge_s'])} s | {result} |"
    )


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("targets", nargs="+")
    p.add_argument("--window", type=int, default=900, help="stop after this many seconds without a new edge")
    p.add_argument("--max", type=int, default=3600, help="stop a run after this many seconds")
    p.add_argument("--deadline", type=int, default=0, help="stop everything after this many seconds (0: none)")
    p.add_argument("--workers", type=int, default=1, help="targets fuzzed at once, one core each")
    p.add_argument("--helpers", type=int, default=0, help="more processes on each run's corpus, one core each")
    p.add_argument("--timeout", type=int, default=10, help="libFuzzer -timeout, seconds per input")
    p.add_argument("--rss-limit-mb", type=int, default=2048)
    p.add_argument("--malloc-limit-mb", type=int, default=1024)
    p.add_argument("--logs", default=os.path.join(HERE, "logs"))
    args = p.parse_args()
    os.makedirs(args.logs, exist_ok=True)
    stop_at = time.monotonic() + args.deadline if args.deadline else float("inf")
    queue, lock = list(args.targets), threading.Lock()
    failed = []

    def worker():
        while True:
            with lock:
                if not queue or time.monotonic() >= stop_at:
                    return
                target = queue.pop(0)
            r = run(target, args, stop_at)
            with lock:
                with open(os.path.join(args.logs, "summary.jsonl"), "a") as f:
                    f.write(json.dumps(r) + "\n")
                print(row(r), flush=True)
                if not ok(r):
                    failed.append(target)

    print("| target | run | runs | edges / features, start → end | last new edge | result |")
    print("|---|---|---:|---|---:|---|", flush=True)
    threads = [threading.Thread(target=worker) for _ in range(max(1, args.workers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
