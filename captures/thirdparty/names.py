#!/usr/bin/env python3
"""Names read by tshark and whohosts, side by side, on every capture of a directory:
which captures differ, and in which names.

    captures/thirdparty/names.py WHOHOSTS_BIN DIR

For each *.pcap / *.pcapng in DIR, four sets are compared, as
`tests/tshark_names.rs` compares them on the bundled captures: TLS and QUIC SNI
(`tls.handshake.extensions_server_name`), DNS query names (`dns.qry.name`), the
addresses of DNS A and AAAA records (`dns.a`, `dns.aaaa`) and HTTP hosts
(`http.host`), against `WHOHOSTS_BIN analyze -q FILE --json -`. A capture that
differs prints, for each set that differs, what only tshark and only whohosts list
(at most three of each). The last line counts the captures that differ. Set
WHOHOSTS_DATA_DIR as for any run.
"""
import json
import os
import subprocess
import sys

FIELDS = {
    "sni": ["tls.handshake.extensions_server_name"],
    "dns": ["dns.qry.name"],
    "addresses": ["dns.a", "dns.aaaa"],
    "http": ["http.host"],
}


def tshark(path):
    columns = [f for fs in FIELDS.values() for f in fs]
    args = ["tshark", "-n", "-r", path, "-T", "fields", "-E", "separator=/t"]
    for f in columns:
        args += ["-e", f]
    out = subprocess.run(args, capture_output=True, text=True, timeout=300,
                         errors="replace").stdout
    seen = {f: set() for f in columns}
    for line in out.splitlines():
        for f, column in zip(columns, line.split("\t")):
            seen[f].update(v.strip().lower() for v in column.split(",") if v.strip())
    return {k: set().union(*(seen[f] for f in fs)) for k, fs in FIELDS.items()}


def text(v):
    return v.lower() if isinstance(v, str) else None


def whohosts(binary, path):
    run = subprocess.run([binary, "analyze", "-q", path, "--json", "-"],
                         capture_output=True, text=True, timeout=300, errors="replace")
    if run.returncode not in (0, 1):
        return None
    report = json.loads(run.stdout)
    sets = {k: set() for k in FIELDS}
    for t in report.get("tls", []):
        if t.get("type") == "client_hello" and text(t.get("sni")):
            sets["sni"].add(text(t["sni"]))
    for q in report.get("quic", []):
        if text(q.get("sni")):
            sets["sni"].add(text(q["sni"]))
    for d in report.get("dns", []):
        for q in d.get("questions", []):
            if text(q.get("name")) is not None:
                # The root name, which tshark writes "<Root>".
                sets["dns"].add(text(q["name"]).rstrip(".") or "<root>")
        if d.get("is_response"):
            for section in ("answers", "authority", "additional"):
                for r in d.get(section, []):
                    data = r.get("data", {})
                    if data.get("type") in ("a", "aaaa") and text(data.get("address")):
                        sets["addresses"].add(text(data["address"]))
    for h in report.get("http", []):
        if h.get("type") == "request" and text(h.get("host")):
            sets["http"].add(text(h["host"]))
    return sets


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
            continue
        diffs = [
            f"{k}: tshark only {sorted(theirs[k] - ours[k])[:3]}, "
            f"whohosts only {sorted(ours[k] - theirs[k])[:3]}"
            for k in FIELDS
            if theirs[k] != ours[k]
        ]
        if diffs:
            differ += 1
            print(f"{name}: " + "; ".join(diffs))
    print(f"{differ} of {len(files)} captures differ")


if __name__ == "__main__":
    main()
