#!/usr/bin/env bash
# Records captures/tls-damaged-hello.pcap: a ClientHello damaged after its
# server_name extension, sent over a real TCP connection to `openssl s_server`,
# which answers with an alert. The hello names bad-hello.mtr-pirate.example, then
# an ALPN extension whose list claims more bytes than it holds, then an extension
# announcing more bytes than are left: tshark shows the name and the extensions
# up to the damage (as in nDPI's tls_invalid_reads.pcap); whohosts must too.
# A second connection sends the same hello whole, naming good-hello.mtr-pirate.example.
#
# Every process is bounded by `timeout` and stopped by the EXIT trap, which also
# removes the namespace. Nothing touches the host's network.
#
# Needs root, openssl, dumpcap, python3.
# Usage: captures/record-damaged-hello.sh   (writes captures/tls-damaged-hello.pcap)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
NS=whohosts-badhello
LIFE=20
HOST=bad-hello.mtr-pirate.example

die() {
	echo "record-damaged-hello.sh: $*" >&2
	exit 1
}
[ "$(id -u)" = 0 ] || die "needs root (ip netns, dumpcap)"
for t in ip openssl dumpcap python3 timeout; do
	command -v "$t" >/dev/null || die "missing tool: $t"
done

WORK=$(mktemp -d /tmp/whohosts-badhello.XXXXXX)
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	ip netns del "$NS" 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

ip netns add "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" addr add 127.0.0.2/8 dev lo 2>/dev/null || true
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
	-subj "/CN=$HOST" -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
ip netns exec "$NS" timeout "$LIFE" openssl s_server -quiet -accept 127.0.0.2:443 \
	-cert "$WORK/cert.pem" -key "$WORK/key.pem" </dev/null >"$WORK/server.log" 2>&1 &
PIDS+=($!)
ip netns exec "$NS" timeout "$LIFE" dumpcap -q -P -i lo -f 'tcp port 443' -w "$WORK/raw.pcap" 2>/dev/null &
DUMP=$!
PIDS+=($DUMP)
sleep 2
ip netns exec "$NS" timeout 10 python3 - "$HOST" <<'PY'
import socket, struct, sys

name = sys.argv[1].encode()
sni = struct.pack("!HHHBH", 0, len(name) + 5, len(name) + 3, 0, len(name)) + name
groups = struct.pack("!HHH", 0x000A, 4, 2) + struct.pack("!H", 0x0017)
# ALPN whose protocol list claims 47241 bytes in a 4-byte extension, then an
# extension 0x47e3 announcing 20422 bytes with 3 left.
damage = bytes.fromhex("00100004b8890268") + bytes.fromhex("47e34fc6010203")

def hello(exts):
    body = b"\x03\x03" + bytes(range(32)) + b"\x00" + b"\x00\x04\xc0\x2b\xc0\x2f" + b"\x01\x00"
    body += struct.pack("!H", len(exts)) + exts
    hs = b"\x01" + struct.pack("!I", len(body))[1:] + body
    return b"\x16\x03\x01" + struct.pack("!H", len(hs)) + hs

whole = name.replace(b"bad-", b"good-")
sni_whole = struct.pack("!HHHBH", 0, len(whole) + 5, len(whole) + 3, 0, len(whole)) + whole
for exts in (sni + groups + damage, sni_whole + groups):
    s = socket.create_connection(("127.0.0.2", 443), timeout=5, source_address=("127.0.0.100", 0))
    s.sendall(hello(exts))
    try:
        s.recv(4096)
    except OSError:
        pass
    s.close()
PY
sleep 1
kill "$DUMP"
wait "$DUMP" 2>/dev/null || true
cp "$WORK/raw.pcap" "$HERE/tls-damaged-hello.pcap"
chmod 644 "$HERE/tls-damaged-hello.pcap"
echo "wrote $HERE/tls-damaged-hello.pcap"
