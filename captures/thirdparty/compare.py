#!/usr/bin/env python3
"""Conversation tables of tshark and whohosts, side by side, on every capture of a
directory: which captures differ, and how.

    captures/thirdparty/compare.py WHOHOSTS_BIN DIR

For each *.pcap / *.pcapng in DIR, tshark's `-z conv,tcp -z conv,udp -z conv,ip -z
conv,ipv6` and `WHOHOSTS_BIN analyze -q FILE --json -` are reduced to
(table, endpoint pair, frames) and compared as multisets; a capture that differs
prints what only tshark and only whohosts list (at most two of each). The last line
counts the captures that differ. `tests/tshark_conversations.rs` checks the bundled
captures more strictly (bytes, directions, start times, endpoints); this script is
for a corpus of other people's captures (tcpdump's `tests/`, say), to find what is
worth bundling. Set WHOHOSTS_DATA_DIR as for any run.
"""
import collections
import json
import os
import re
import subprocess
import sys

TABLES = {"TCP": "tcp", "UDP": "udp", "IPv4": "ip", "IPv6": "ip"}
TOTALS = re.compile(
    r"\s(\d+)\s+\S+\s+(?:bytes|kB|MB|GB)\s+(\d+)\s+\S+\s+(?:bytes|kB|MB|GB)\s+(\d+)\s"
)


def tshark(path):
    out = subprocess.run(
        ["tshark", "-n", "-r", path, "-q",
         "-z", "conv,tcp", "-z", "conv,udp", "-z", "conv,ip", "-z", "conv,ipv6"],
        capture_output=True, text=True, timeout=120,
    ).stdout
    seen, table = collections.Counter(), None
    for line in out.splitlines():
        m = re.match(r"^(TCP|UDP|IPv4|IPv6) Conversations", line)
        if m:
            table = TABLES[m.group(1)]
        elif "<->" in line and table:
            a, rest = line.split("<->", 1)
            b = rest.split()[0]
            total = TOTALS.search(rest)
            frames = int(total.group(3)) if total else -1
            seen[(table, *sorted([a.strip(), b]), frames)] += 1
    return seen


def whohosts(binary, path):
    run = subprocess.run([binary, "analyze", "-q", path, "--json", "-"],
                         capture_output=True, text=True, timeout=120)
    if run.returncode not in (0, 1):
        return None
    seen = collections.Counter()
    for c in json.loads(run.stdout)["conversations"]:
        t = c["transport"]
        side = [e["ip"] if t == "ip" else f"{e['ip']}:{e['port']}" for e in (c["a"], c["b"])]
        seen[(t, *sorted(side), c["frames"])] += 1
    return seen


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    binary, folder = sys.argv[1], sys.argv[2]
    files = sorted(f for f in os.listdir(folder) if f.endswith((".pcap", ".pcapng")))
    differ = 0
    for name in files:
        path = os.path.join(folder, name)
        theirs, ours = tshark(path), whohosts(binary, path)
        if ours is None:
            differ += 1
            print(f"{name}: whohosts failed (exit status other than 0 or 1)")
        elif theirs != ours:
            differ += 1
            print(f"{name}: tshark only {list(theirs - ours)[:2]}, whohosts only {list(ours - theirs)[:2]}")
    print(f"{differ} of {len(files)} captures differ")


if __name__ == "__main__":
    main()
