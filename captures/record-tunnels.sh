#!/usr/bin/env bash
# Records captures/encap-vxlan.pcap: a client reaching a server through a VXLAN
# tunnel (VNI 42, UDP 4789) between two network namespaces joined by a veth pair,
# captured on the underlay, so that every frame holds outer Ethernet/IPv4/UDP/VXLAN
# around the inner Ethernet/IPv4 frame. Real programs throughout: dnsmasq (DNS),
# openssl s_server (TLS with SNI), busybox httpd (HTTP Host), dig, curl, dumpcap.
# Then writes the other tunnel captures from it with tools/encap.py (GRE with key
# and sequence number, ERSPAN, Geneve, IP-in-IP, GTP-U, MPLS, PPPoE, LLC/SNAP, PPP,
# Cisco HDLC, 802.11, radiotap, A-MSDUs whole and cut; 6in4 from ipv6.pcap; GRE
# with a source route), since kernels
# without the gre/geneve/ipip/sit modules (and without /dev/ppp for PPPoE) cannot
# make them live.
#
# Underlay 10.250.0.1 (client) - 10.250.0.2 (server); overlay 198.18.25.1 -
# 198.18.25.2. Nothing touches the host's network; every process is bounded by
# `timeout` and stopped by the EXIT trap, which also removes the namespaces.
#
# Needs root. Usage: captures/record-tunnels.sh
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
CL=enc-client
SV=enc-server
LIFE=30

die() {
	echo "record-tunnels.sh: $*" >&2
	exit 1
}
[ "$(id -u)" = 0 ] || die "needs root (ip netns, dumpcap)"
for t in ip ethtool busybox dnsmasq dig curl openssl python3 dumpcap editcap timeout; do
	command -v "$t" >/dev/null || die "missing tool: $t"
done

WORK=$(mktemp -d /tmp/whohosts-tunnels.XXXXXX)
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
ip link add enc-cl type veth peer name enc-sv
ip link set enc-cl netns "$CL"
ip link set enc-sv netns "$SV"
for ns in "$CL" "$SV"; do
	ip -n "$ns" link set lo up
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
done
ip -n "$CL" link set enc-cl address 02:00:00:25:00:01
ip -n "$SV" link set enc-sv address 02:00:00:25:00:02
ip -n "$CL" addr add 10.250.0.1/24 dev enc-cl
ip -n "$SV" addr add 10.250.0.2/24 dev enc-sv
ip -n "$CL" link set enc-cl up
ip -n "$SV" link set enc-sv up
ip -n "$CL" link add enc-vx mtu 1400 type vxlan id 42 local 10.250.0.1 remote 10.250.0.2 dstport 4789 dev enc-cl
ip -n "$SV" link add enc-vx mtu 1400 type vxlan id 42 local 10.250.0.2 remote 10.250.0.1 dstport 4789 dev enc-sv
ip -n "$CL" link set enc-vx address 02:00:00:25:01:01
ip -n "$SV" link set enc-vx address 02:00:00:25:01:02
ip -n "$CL" addr add 198.18.25.1/24 dev enc-vx
ip -n "$SV" addr add 198.18.25.2/24 dev enc-vx
ip -n "$CL" link set enc-vx up
ip -n "$SV" link set enc-vx up
for ns in "$CL" "$SV"; do
	for dev in enc-cl enc-sv enc-vx; do
		ip netns exec "$ns" ethtool -K "$dev" tso off gso off gro off >/dev/null 2>&1 || true
	done
done

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
	-subj /CN=cdn.mtr-pirate.example -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
mkdir -p "$WORK/www"
echo "MT Reloaded mirror" >"$WORK/www/index.html"
ip netns exec "$SV" timeout "$LIFE" busybox httpd -f -p 198.18.25.2:80 -h "$WORK/www" &
PIDS+=($!)
ip netns exec "$SV" timeout "$LIFE" openssl s_server -quiet -accept 198.18.25.2:443 \
	-cert "$WORK/cert.pem" -key "$WORK/key.pem" -www >/dev/null 2>&1 &
PIDS+=($!)
ip netns exec "$SV" timeout "$LIFE" dnsmasq --no-daemon --no-resolv --no-hosts \
	--listen-address=198.18.25.2 --bind-interfaces --port=53 \
	--address=/cdn.mtr-pirate.example/198.18.25.2 --pid-file="$WORK/dnsmasq.pid" \
	>"$WORK/dnsmasq.log" 2>&1 &
PIDS+=($!)
sleep 1

ip netns exec "$CL" timeout "$LIFE" dumpcap -q -P -i enc-cl -f "udp port 4789" -w "$WORK/raw.pcap" &
PIDS+=($!)
sleep 2

ip netns exec "$CL" timeout 10 dig +tries=1 +time=2 @198.18.25.2 cdn.mtr-pirate.example A >/dev/null
ip netns exec "$CL" timeout 10 curl -sS -k -o /dev/null --resolve cdn.mtr-pirate.example:443:198.18.25.2 \
	https://cdn.mtr-pirate.example/
ip netns exec "$CL" timeout 10 curl -sS -o /dev/null -H "Host: www.mtr-pirate.example" \
	http://198.18.25.2/index.html
sleep 1
kill -INT "${PIDS[3]}" 2>/dev/null || true
wait "${PIDS[3]}" 2>/dev/null || true

# Frame times start at a fixed instant, so that the fixture does not carry the day
# it was recorded on.
first=$(python3 -c '
import struct,sys
d=open(sys.argv[1],"rb").read()
print(struct.unpack("<I",d[24:28])[0])' "$WORK/raw.pcap")
editcap -F pcap -t $((1795525841 - first)) "$WORK/raw.pcap" "$HERE/encap-vxlan.pcap"
echo "wrote $HERE/encap-vxlan.pcap"

# The encapsulations this kernel cannot make live, around the same real frames.
for kind in gre gresre erspan2 erspan3 geneve ipip gtpu mpls pppoe llc ppp chdlc juniper juniper-ppp wlan radiotap amsdu pktap capwap; do
	python3 "$HERE/tools/encap.py" "$HERE/encap-vxlan.pcap" "$HERE/encap-$kind.pcap" "vx:$kind"
done
python3 "$HERE/tools/encap.py" "$HERE/ipv6.pcap" "$HERE/encap-6in4.pcap" 6in4
python3 "$HERE/tools/encap.py" "$HERE/ipv6.pcap" "$HERE/encap-teredo.pcap" teredo
# A-MSDUs cut by a snap length of 300 bytes: some inside their first subframe,
# some inside a later one.
editcap -F pcap -s 300 "$HERE/encap-amsdu.pcap" "$HERE/encap-amsdu-cut.pcap"
# Cisco HDLC frames under the PPP link type, as routers' serial captures write them.
editcap -F pcap -T ppp "$HERE/encap-chdlc.pcap" "$HERE/encap-ppp-chdlc.pcap"
echo "wrote $HERE/encap-*.pcap"
