#!/usr/bin/env python3
"""Print, for each address given, every feed line whose prefix contains it.

Usage: feedlines.py FEED_DIR ADDRESS...
Prints "address  file:line  prefix  (following lines of the same JSON object)".
Used to document where each public address of the captures comes from.
"""
import ipaddress
import os
import re
import sys

CIDR = re.compile(r"([0-9a-fA-F:.]+/\d{1,3})")


def main():
    root, addrs = sys.argv[1], [ipaddress.ip_address(a) for a in sys.argv[2:]]
    files = []
    for dirpath, _dirs, names in os.walk(root):
        files += [os.path.join(dirpath, n) for n in sorted(names) if not n.endswith(".md")]
    for addr in addrs:
        found = False
        for path in sorted(files):
            with open(path, encoding="utf-8", errors="replace") as f:
                lines = f.readlines()
            for i, line in enumerate(lines):
                for m in CIDR.finditer(line):
                    try:
                        net = ipaddress.ip_network(m.group(1), strict=False)
                    except ValueError:
                        continue
                    if net.version == addr.version and addr in net:
                        ctx = " ".join(l.strip() for l in lines[i + 1 : i + 4])
                        rel = os.path.relpath(path, root)
                        print("%s  %s:%d  %s  %s" % (addr, rel, i + 1, net, ctx[:160]))
                        found = True
        if not found:
            print("%s  (in no feed)" % addr)


if __name__ == "__main__":
    main()
