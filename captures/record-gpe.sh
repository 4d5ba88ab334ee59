#!/usr/bin/env bash
# Records captures/encap-vxlan-gpe.pcap: a client reaching a server through a
# VXLAN-GPE tunnel (RFC draft-ietf-nvo3-vxlan-gpe; Linux's `vxlan gpe external`,
# UDP 4790, VNI 42, no inner Ethernet: the next-protocol field says IPv4 or IPv6)
# between two network namespaces joined by a veth pair, captured on the underlay.
# Real programs throughout: dnsmasq (DNS), openssl s_server (TLS with SNI),
# busybox httpd (HTTP Host, over IPv4 and over IPv6), dig, curl, dumpcap.
#
# Underlay 10.250.2.1 (client) - 10.250.2.2 (server); overlay 198.18.26.1 -
# 198.18.26.2 and fd00:26::1 - fd00:26::2, routed into the tunnel by lightweight
# tunnel routes (`encap ip id 42 dst ...`). Nothing touches the host's network;
# every process is bounded by `timeout` and stopped by the EXIT trap, which also
# removes the namespaces.
#
# Needs root. Usage: captures/record-gpe.sh
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
CL=gpe-client
SV=gpe-server
LIFE=30

die() {
	echo "record-gpe.sh: $*" >&2
	exit 1
}
[ "$(id -u)" = 0 ] || die "needs root (ip netns, dumpcap)"
for t in ip busybox dnsmasq dig curl openssl python3 dumpcap editcap timeout; do
	command -v "$t" >/dev/null || die "missing tool: $t"
done

WORK=$(mktemp -d /tmp/whohosts-gpe.XXXXXX)
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
ip link add gpe-cl type veth peer name gpe-sv
ip link set gpe-cl netns "$CL"
ip link set gpe-sv netns "$SV"
ip -n "$CL" link set gpe-cl address 02:00:00:26:00:01
ip -n "$SV" link set gpe-sv address 02:00:00:26:00:02
# side: namespace, device, underlay address, its peer's, overlay v4, v6, peer's v4, v6
side() {
	local ns=$1 dev=$2 under=$3 peer=$4 v4=$5 v6=$6 pv4=$7 pv6=$8
	ip -n "$ns" link set lo up
	ip netns exec "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0
	ip netns exec "$ns" sysctl -qw net.ipv4.conf.default.rp_filter=0
	ip -n "$ns" addr add "$under/24" dev "$dev"
	ip -n "$ns" link set "$dev" up
	ip -n "$ns" link add gpe0 mtu 1400 type vxlan gpe external dstport 4790
	ip netns exec "$ns" sysctl -qw net.ipv4.conf.gpe0.rp_filter=0
	ip -n "$ns" addr add "$v4/32" dev gpe0
	ip -n "$ns" addr add "$v6/128" dev gpe0 nodad
	ip -n "$ns" link set gpe0 up
	ip -n "$ns" route add "$pv4/32" encap ip id 42 dst "$peer" dev gpe0
	ip -n "$ns" -6 route add "$pv6/128" encap ip id 42 dst "$peer" dev gpe0
}
side "$CL" gpe-cl 10.250.2.1 10.250.2.2 198.18.26.1 fd00:26::1 198.18.26.2 fd00:26::2
side "$SV" gpe-sv 10.250.2.2 10.250.2.1 198.18.26.2 fd00:26::2 198.18.26.1 fd00:26::1
# Underlay neighbours fixed, so that the capture holds no ARP.
ip -n "$CL" neigh add 10.250.2.2 lladdr 02:00:00:26:00:02 dev gpe-cl
ip -n "$SV" neigh add 10.250.2.1 lladdr 02:00:00:26:00:01 dev gpe-sv

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
	-subj /CN=gpe.mtr-pirate.example -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
mkdir -p "$WORK/www"
echo "MT Reloaded mirror" >"$WORK/www/index.html"
ip netns exec "$SV" timeout "$LIFE" busybox httpd -f -p 80 -h "$WORK/www" &
PIDS+=($!)
ip netns exec "$SV" timeout "$LIFE" openssl s_server -quiet -accept 198.18.26.2:443 \
	-cert "$WORK/cert.pem" -key "$WORK/key.pem" -www >/dev/null 2>&1 &
PIDS+=($!)
ip netns exec "$SV" timeout "$LIFE" dnsmasq --no-daemon --no-resolv --no-hosts \
	--listen-address=198.18.26.2 --bind-interfaces --port=53 \
	--address=/gpe.mtr-pirate.example/198.18.26.2 --pid-file="$WORK/dnsmasq.pid" \
	>"$WORK/dnsmasq.log" 2>&1 &
PIDS+=($!)
sleep 1

ip netns exec "$CL" timeout "$LIFE" dumpcap -q -P -i gpe-cl -f "udp port 4790" -w "$WORK/raw.pcap" &
PIDS+=($!)
sleep 2

ip netns exec "$CL" timeout 10 dig +tries=1 +time=2 @198.18.26.2 gpe.mtr-pirate.example A >/dev/null
ip netns exec "$CL" timeout 10 curl -sS -k -o /dev/null --resolve gpe.mtr-pirate.example:443:198.18.26.2 \
	https://gpe.mtr-pirate.example/
ip netns exec "$CL" timeout 10 curl -sS -o /dev/null -H "Host: www.mtr-pirate.example" \
	http://198.18.26.2/index.html
ip netns exec "$CL" timeout 10 curl -sS -o /dev/null -H "Host: v6.mtr-pirate.example" \
	"http://[fd00:26::2]/index.html"
sleep 1
kill -INT "${PIDS[3]}" 2>/dev/null || true
wait "${PIDS[3]}" 2>/dev/null || true

# Frame times start at a fixed instant, so that the fixture does not carry the day
# it was recorded on.
first=$(python3 -c '
import struct,sys
d=open(sys.argv[1],"rb").read()
print(struct.unpack("<I",d[24:28])[0])' "$WORK/raw.pcap")
editcap -F pcap -t $((1795525841 - first)) "$WORK/raw.pcap" "$HERE/encap-vxlan-gpe.pcap"
echo "wrote $HERE/encap-vxlan-gpe.pcap"
