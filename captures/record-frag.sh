#!/usr/bin/env bash
# Records captures/frag-vxlan.pcap (and encap-grefrag.pcap from it): IP fragmentation outside and inside a tunnel,
# both done by the kernel. A VXLAN tunnel (VNI 43, UDP 4789) joins two network namespaces over a veth
# pair whose MTU (1400) is smaller than the tunnel's (1500), and the tunnel leaves
# the outer Don't Fragment bit clear (`df unset`): an inner frame longer than 1350
# bytes leaves as two outer IPv4 fragments, until the tunnel lowers the server's
# path MTU to 1350 (after the first one). curl fetches
# `https://dl.mtr-pirate.example/` from `openssl s_server` (TLS 1.2: the server's
# hello and certificate, with its names, cross the underlay as two fragments) and a
# 20 000-byte file from busybox `httpd` with `Host: www.mtr-pirate.example`; then
# dnsmasq answers `dig` for `dl.mtr-pirate.example` with 200 A records (a 3.3 KB
# answer, EDNS 4096), which the server's IP layer splits into inner fragments.
# Captured on the underlay with dumpcap; frame times shifted to a fixed instant.
#
# Underlay 10.250.2.1 (client) - 10.250.2.2 (server); overlay 198.18.26.1 -
# 198.18.26.2. Nothing touches the host's network; every process is bounded by
# `timeout` and stopped by the EXIT trap, which also removes the namespaces.
#
# Needs root. Usage: captures/record-frag.sh
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
CL=frag-client
SV=frag-server
LIFE=30

die() {
	echo "record-frag.sh: $*" >&2
	exit 1
}
[ "$(id -u)" = 0 ] || die "needs root (ip netns, dumpcap)"
for t in ip ethtool busybox dnsmasq dig curl openssl python3 dumpcap editcap timeout; do
	command -v "$t" >/dev/null || die "missing tool: $t"
done

WORK=$(mktemp -d /tmp/whohosts-frag.XXXXXX)
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	ip netns del "$CL" 2>/dev/null || true
	ip netns del "$SV" 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

ip netns add "$CL"
ip netns add "$SV"
ip link add frag-cl type veth peer name frag-sv
ip link set frag-cl netns "$CL"
ip link set frag-sv netns "$SV"
for ns in "$CL" "$SV"; do
	ip -n "$ns" link set lo up
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
	# Inner packets leave without Don't Fragment, so that the tunnel splits TCP
	# segments too instead of lowering the path MTU.
	ip netns exec "$ns" sysctl -qw net.ipv4.ip_no_pmtu_disc=1
done
ip -n "$CL" link set frag-cl address 02:00:00:26:00:01 mtu 1400
ip -n "$SV" link set frag-sv address 02:00:00:26:00:02 mtu 1400
ip -n "$CL" addr add 10.250.2.1/24 dev frag-cl
ip -n "$SV" addr add 10.250.2.2/24 dev frag-sv
ip -n "$CL" link set frag-cl up
ip -n "$SV" link set frag-sv up
ip -n "$CL" link add frag-vx mtu 1500 type vxlan id 43 local 10.250.2.1 remote 10.250.2.2 dstport 4789 df unset
ip -n "$SV" link add frag-vx mtu 1500 type vxlan id 43 local 10.250.2.2 remote 10.250.2.1 dstport 4789 df unset
ip -n "$CL" link set frag-vx address 02:00:00:26:01:01
ip -n "$SV" link set frag-vx address 02:00:00:26:01:02
ip -n "$CL" addr add 198.18.26.1/24 dev frag-vx
ip -n "$SV" addr add 198.18.26.2/24 dev frag-vx
ip -n "$CL" link set frag-vx up
ip -n "$SV" link set frag-vx up
for ns in "$CL" "$SV"; do
	for dev in frag-cl frag-sv frag-vx; do
		ip netns exec "$ns" ethtool -K "$dev" tso off gso off gro off >/dev/null 2>&1 || true
	done
done

openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=dl.mtr-pirate.example \
	-addext "subjectAltName=DNS:dl.mtr-pirate.example,DNS:cdn.mtr-pirate.example,DNS:*.mirror.mtr-pirate.example" \
	-keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
mkdir -p "$WORK/www"
head -c 20000 /dev/zero | tr '\0' 'M' >"$WORK/www/patch.bin"
for i in $(seq 1 200); do
	echo "198.18.27.$i dl.mtr-pirate.example"
done >"$WORK/hosts"
ip netns exec "$SV" timeout "$LIFE" busybox httpd -f -p 198.18.26.2:80 -h "$WORK/www" &
PIDS+=($!)
ip netns exec "$SV" timeout "$LIFE" openssl s_server -quiet -accept 198.18.26.2:443 \
	-cert "$WORK/cert.pem" -key "$WORK/key.pem" -www >/dev/null 2>&1 &
PIDS+=($!)
ip netns exec "$SV" timeout "$LIFE" dnsmasq --no-daemon --no-resolv --no-hosts \
	--listen-address=198.18.26.2 --bind-interfaces --port=53 --edns-packet-max=4096 \
	--addn-hosts="$WORK/hosts" --pid-file="$WORK/dnsmasq.pid" \
	>"$WORK/dnsmasq.log" 2>&1 &
PIDS+=($!)
sleep 1

ip netns exec "$CL" timeout "$LIFE" dumpcap -q -P -i frag-cl -f "udp port 4789 or (ip[6:2] & 0x1fff != 0)" -w "$WORK/raw.pcap" &
PIDS+=($!)
sleep 2

ip netns exec "$CL" timeout 10 curl -sS -k --tls-max 1.2 -o /dev/null \
	--resolve dl.mtr-pirate.example:443:198.18.26.2 https://dl.mtr-pirate.example/
ip netns exec "$CL" timeout 10 curl -sS -o /dev/null -H "Host: www.mtr-pirate.example" \
	http://198.18.26.2/patch.bin
ip netns exec "$CL" timeout 10 dig +tries=1 +time=2 +bufsize=4096 +ignore @198.18.26.2 dl.mtr-pirate.example A >/dev/null
sleep 1
kill -INT "${PIDS[3]}" 2>/dev/null || true
wait "${PIDS[3]}" 2>/dev/null || true

first=$(python3 -c '
import struct,sys
d=open(sys.argv[1],"rb").read()
print(struct.unpack("<I",d[24:28])[0])' "$WORK/raw.pcap")
editcap -F pcap -t $((1795525841 - first)) "$WORK/raw.pcap" "$HERE/frag-vxlan.pcap"
echo "wrote $HERE/frag-vxlan.pcap"

# Fragmentation at two levels, which this kernel's tunnels do not produce: the same
# inner frames in GRE over an underlay of MTU 576, so that the DNS answer's inner
# fragments are each split again.
python3 "$HERE/tools/encap.py" "$HERE/frag-vxlan.pcap" "$HERE/encap-grefrag.pcap" vx:grefrag
echo "wrote $HERE/encap-grefrag.pcap"
