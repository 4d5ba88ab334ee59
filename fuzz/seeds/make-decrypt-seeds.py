#!/usr/bin/env python3
"""Writes seeds for the tls_decrypt and h2 fuzz targets from the recorded HTTPS
captures (captures/tls*-h2-*.pcap, captures/tls*-h1-*.pcap) with tshark:
tls_decrypt gets each capture's TCP payloads, h2 the plaintext tshark decrypts
with the key log, both as chunks `[side][length u8][bytes]` (side 0 client,
1 server). The seeds are cut to their first 16 KiB. Usage: python3
seeds/make-decrypt-seeds.py (from fuzz/)."""
import pathlib, subprocess

CAPS = pathlib.Path(__file__).resolve().parents[2] / "captures"
OUT = pathlib.Path(__file__).resolve().parent
LIMIT = 16 << 10


def chunks(side, data):
    out = bytearray()
    for i in range(0, len(data), 255):
        part = data[i:i + 255]
        out += bytes([side, len(part)]) + part
    return bytes(out)


def tshark(*args):
    return subprocess.run(["tshark", *args], check=True, capture_output=True, text=True).stdout


for pcap in sorted(CAPS.glob("tls1[23]-h[12]-*.pcap")):
    name, keys = pcap.stem, pcap.with_suffix(".keys")
    seed = bytearray()
    for line in tshark("-r", str(pcap), "-Y", "tcp.len > 0", "-T", "fields", "-e", "tcp.srcport", "-e", "tcp.payload").splitlines():
        port, payload = line.split("\t")
        seed += chunks(1 if port == "443" else 0, bytes.fromhex(payload.replace(":", "")))
    (OUT / "tls_decrypt").mkdir(exist_ok=True)
    (OUT / "tls_decrypt" / name).write_bytes(bytes(seed[:LIMIT]))
    if "-h2-" not in name:
        continue
    text = tshark("-r", str(pcap), "-o", f"tls.keylog_file:{keys}", "-qz", "follow,tls,raw,0")
    seed, body, node0_server = bytearray(), False, False
    for line in text.splitlines():
        if line.startswith("Node 0: "):
            node0_server = line.endswith(":443")
        if line.startswith("Node 1:"):
            body = True
            continue
        if not body or not line or line.startswith("===="):
            continue
        indented = line.startswith("\t")
        server = indented != node0_server
        data = bytes.fromhex(line.strip())
        if not server and data.startswith(b"PRI * HTTP/2.0"):
            data = data[24:]  # the target sends the preface itself
        seed += chunks(1 if server else 0, data)
    (OUT / "h2").mkdir(exist_ok=True)
    (OUT / "h2" / name).write_bytes(bytes(seed[:LIMIT]))
