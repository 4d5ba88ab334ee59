#!/usr/bin/env bash
# Records captures/mipv6.pcap: Mobile IPv6 signalling (RFC 6275 Mobility headers,
# IPv6 next header 135) on the loopback of a network namespace of its own: a
# Binding Refresh Request, a Home Test Init, a Care-of Test Init and a Binding
# Update too long for the loopback's MTU of 1280 (sent in two fragments) by
# Linux through a raw socket from fd00:135::1 to fd00:135::2 (the kernel fills
# the checksum), each answered by the kernel with an ICMPv6 Parameter Problem
# (no Mobile IPv6 here), then a UDP datagram (and its Port Unreachable).
# tshark 4.0 leaves packets with a Mobility header out of its IPv6 tables.
#
# Every process is bounded by `timeout` and stopped by the EXIT trap, which also
# removes the namespace. Nothing touches the host's network.
#
# Needs root. Usage: captures/record-mipv6.sh   (writes captures/mipv6.pcap)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
NS=whohosts-mipv6

die() {
	echo "record-mipv6.sh: $*" >&2
	exit 1
}
[ "$(id -u)" = 0 ] || die "needs root (ip netns, dumpcap)"
for t in ip dumpcap editcap python3 timeout; do
	command -v "$t" >/dev/null || die "missing tool: $t"
done

WORK=$(mktemp -d /tmp/whohosts-mipv6.XXXXXX)
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
ip -n "$NS" link set lo up mtu 1280
ip -n "$NS" addr add fd00:135::1/64 dev lo nodad
ip -n "$NS" addr add fd00:135::2/64 dev lo nodad

cat >"$WORK/send.py" <<'PY'
import socket, struct
def mh(mh_type, body):
    # Payload proto 59 (none), header length in 8-octet units past the first 8,
    # type, reserved, checksum (zero: the kernel computes it), then the message.
    body += b"\0" * ((-(6 + len(body))) % 8)
    return struct.pack("!BBBBH", 59, (6 + len(body)) // 8 - 1, mh_type, 0, 0) + body
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, 135)
s.bind(("fd00:135::1", 0))
s.setsockopt(socket.IPPROTO_IPV6, 7, 4)  # IPV6_CHECKSUM: at offset 4
dst = ("fd00:135::2", 0)
s.sendto(mh(0, b"\0\0"), dst)                 # Binding Refresh Request
s.sendto(mh(1, b"\0\0" + b"\x11" * 8), dst)   # Home Test Init, its cookie
s.sendto(mh(2, b"\0\0" + b"\x22" * 8), dst)   # Care-of Test Init, its cookie
# A Binding Update padded with PadN options past the loopback's MTU of 1280: the
# kernel sends it in two fragments.
pads = (bytes([1, 246]) + b"\0" * 246) * 6
s.sendto(mh(5, struct.pack("!HHH", 1, 0x0003, 0) + pads), dst)
u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
u.bind(("fd00:135::1", 0))
u.sendto(b"after the mobility messages", ("fd00:135::2", 9))
PY

ip netns exec "$NS" timeout 20 dumpcap -q -P -i lo -f ip6 -w "$WORK/raw.pcap" 2>/dev/null &
PIDS+=($!)
sleep 1.5
ip netns exec "$NS" timeout 10 python3 "$WORK/send.py"
sleep 1
kill "${PIDS[0]}"
wait "${PIDS[0]}" 2>/dev/null || true
# Frame times start at a fixed instant, so that the fixture does not carry the
# day it was recorded on.
first=$(python3 -c '
import struct,sys
d=open(sys.argv[1],"rb").read()
print(struct.unpack("<I",d[24:28])[0])' "$WORK/raw.pcap")
editcap -F pcap -t $((1795525841 - first)) "$WORK/raw.pcap" "$HERE/mipv6.pcap"
chmod 644 "$HERE/mipv6.pcap"
echo "wrote $HERE/mipv6.pcap"
