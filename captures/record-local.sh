#!/usr/bin/env bash
# Records captures/local.pcap: a client on a home network that talks to one
# internet server while the usual local chatter goes on around it: a DHCP
# request broadcast to 255.255.255.255, an SSDP search to 239.255.255.250, an
# mDNS query to 224.0.0.251, and its names resolved by the router's resolver at
# a private address. Real programs throughout: busybox udhcpc and httpd,
# dnsmasq, dig, curl, python3 (the SSDP search), dumpcap.
#
# Two network namespaces joined by a veth pair: the client (192.168.77.20) and
# the router (192.168.77.1), which also holds 47.236.91.18 (an Alibaba Cloud
# address, as in captures/README.md) and serves HTTP on it. Nothing touches the
# host's network; every process is bounded by `timeout` and stopped by the
# EXIT trap, which also removes the namespaces.
#
# Needs root. Usage: captures/record-local.sh   (writes captures/local.pcap)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
CL=whohosts-local-client
RT=whohosts-local-router
LIFE=30

die() {
	echo "record-local.sh: $*" >&2
	exit 1
}
[ "$(id -u)" = 0 ] || die "needs root (ip netns, dumpcap)"
for t in ip ethtool busybox dnsmasq dig curl python3 dumpcap editcap timeout; do
	command -v "$t" >/dev/null || die "missing tool: $t"
done

WORK=$(mktemp -d /tmp/whohosts-local.XXXXXX)
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	ip netns del "$CL" 2>/dev/null || true
	ip netns del "$RT" 2>/dev/null || true
	rm -rf "/etc/netns/$CL" "$WORK"
}
trap cleanup EXIT

ip netns add "$CL"
ip netns add "$RT"
mkdir -p "/etc/netns/$CL"
echo "nameserver 192.168.77.1" >"/etc/netns/$CL/resolv.conf"
ip link add wh-cl type veth peer name wh-rt
ip link set wh-cl netns "$CL"
ip link set wh-rt netns "$RT"
ip -n "$CL" link set lo up
ip -n "$RT" link set lo up
ip -n "$CL" link set wh-cl address 02:00:00:77:00:20
ip -n "$RT" link set wh-rt address 02:00:00:77:00:01
ip -n "$CL" addr add 192.168.77.20/24 dev wh-cl
ip -n "$RT" addr add 192.168.77.1/24 dev wh-rt
ip -n "$RT" addr add 47.236.91.18/32 dev wh-rt
ip -n "$CL" link set wh-cl up
ip -n "$RT" link set wh-rt up
# Frames as an Ethernet path carries them: no segmentation offloads.
ip netns exec "$CL" ethtool -K wh-cl tso off gso off gro off >/dev/null
ip netns exec "$RT" ethtool -K wh-rt tso off gso off gro off >/dev/null
ip -n "$CL" route add default via 192.168.77.1
ip -n "$CL" route add 224.0.0.0/4 dev wh-cl
# No IPv6 chatter (router solicitations, MLD) in the fixture.
ip netns exec "$CL" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
ip netns exec "$RT" sysctl -qw net.ipv6.conf.all.disable_ipv6=1

mkdir -p "$WORK/www/packages"
head -c 20480 /dev/zero | tr '\0' 'M' >"$WORK/www/packages/mtr-reloaded-1.4.2-win64.pak"
ip netns exec "$RT" timeout "$LIFE" busybox httpd -f -p 47.236.91.18:80 -h "$WORK/www" &
PIDS+=($!)
ip netns exec "$RT" timeout "$LIFE" dnsmasq --no-daemon --no-resolv --no-hosts \
	--listen-address=192.168.77.1 --bind-interfaces --port=53 \
	--address=/dl.mtr-pirate.example/47.236.91.18 --pid-file="$WORK/dnsmasq.pid" \
	>"$WORK/dnsmasq.log" 2>&1 &
PIDS+=($!)
sleep 1

ip netns exec "$CL" timeout "$LIFE" dumpcap -q -P -i wh-cl -w "$WORK/raw.pcap" &
PIDS+=($!)
sleep 2

# DHCP: one DISCOVER broadcast (no server answers; udhcpc gives up after one try).
ip netns exec "$CL" timeout 10 busybox udhcpc -i wh-cl -n -q -t 1 -T 1 -s /bin/true >/dev/null 2>&1 || true
# SSDP: one M-SEARCH to the multicast group.
ip netns exec "$CL" timeout 10 python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 2)
s.sendto(b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\nST: ssdp:all\r\n\r\n", ("239.255.255.250", 1900))
'
# mDNS: one query to the multicast group (nobody answers).
ip netns exec "$CL" timeout 10 dig +tries=1 +time=1 @224.0.0.251 -p 5353 printer.local >/dev/null 2>&1 || true
# The download, its name resolved by the router: `ip netns exec` puts
# /etc/netns/NAME/resolv.conf in place of /etc/resolv.conf.
ip netns exec "$CL" timeout 10 curl -sS -4 -o /dev/null \
	http://dl.mtr-pirate.example/packages/mtr-reloaded-1.4.2-win64.pak
sleep 2
kill -INT "${PIDS[2]}" 2>/dev/null || true
wait "${PIDS[2]}" 2>/dev/null || true

# Frame times start at a fixed instant, so that the fixture does not carry the day
# it was recorded on.
first=$(python3 -c '
import struct,sys
d=open(sys.argv[1],"rb").read()
print(struct.unpack("<I",d[24:28])[0])' "$WORK/raw.pcap")
editcap -F pcap -t $((1795525841 - first)) "$WORK/raw.pcap" "$HERE/local.pcap"
echo "wrote $HERE/local.pcap"
