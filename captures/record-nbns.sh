#!/usr/bin/env bash
# Records captures/nbns.pcap: NetBIOS name service (UDP 137) between two network
# namespaces joined by a veth pair: Samba's nmbd (netbios name PIRATEBOX, workgroup
# MTR, WINS server) at 192.168.78.1 registers its names by broadcast as it starts;
# the client 192.168.78.20 asks with nmblookup: a broadcast query for PIRATEBOX, a
# unicast (WINS) query for PIRATEBOX<20>, a node status query, and a query for a
# name nobody holds.
#
# Every process is bounded by `timeout` and stopped by the EXIT trap, which also
# removes the namespaces. Nothing touches the host's network.
#
# Needs root. Usage: captures/record-nbns.sh   (writes captures/nbns.pcap)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
CL=prx-nb-client
SV=prx-nb-server
LIFE=40

die() {
	echo "record-nbns.sh: $*" >&2
	exit 1
}
[ "$(id -u)" = 0 ] || die "needs root (ip netns, dumpcap)"
for t in ip nmbd nmblookup dumpcap timeout; do
	command -v "$t" >/dev/null || die "missing tool: $t"
done

WORK=$(mktemp -d /tmp/whohosts-nbns.XXXXXX)
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
ip link add prx-nbc type veth peer name prx-nbs
ip link set prx-nbc netns "$CL"
ip link set prx-nbs netns "$SV"
ip -n "$CL" link set lo up
ip -n "$SV" link set lo up
ip -n "$CL" link set prx-nbc address 02:00:00:78:00:20
ip -n "$SV" link set prx-nbs address 02:00:00:78:00:01
ip -n "$CL" addr add 192.168.78.20/24 brd 192.168.78.255 dev prx-nbc
ip -n "$SV" addr add 192.168.78.1/24 brd 192.168.78.255 dev prx-nbs
ip netns exec "$CL" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
ip netns exec "$SV" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
ip -n "$CL" link set prx-nbc up
ip -n "$SV" link set prx-nbs up

for side in server client; do
	mkdir -p "$WORK/$side"
	cat >"$WORK/$side/smb.conf" <<CONF
[global]
	workgroup = MTR
	netbios name = $([ "$side" = server ] && echo PIRATEBOX || echo VIEWER)
	interfaces = $([ "$side" = server ] && echo prx-nbs || echo prx-nbc)
	bind interfaces only = yes
	wins support = $([ "$side" = server ] && echo yes || echo no)
	local master = no
	pid directory = $WORK/$side
	lock directory = $WORK/$side
	state directory = $WORK/$side
	cache directory = $WORK/$side
	private dir = $WORK/$side
	ncalrpc dir = $WORK/$side/ncalrpc
	log file = $WORK/$side/log
CONF
done

ip netns exec "$CL" timeout "$LIFE" dumpcap -q -P -i prx-nbc -f 'udp port 137' -w "$WORK/raw.pcap" 2>/dev/null &
PIDS+=($!)
sleep 1
ip netns exec "$SV" timeout "$LIFE" nmbd -F --debug-stdout -d 1 --no-process-group -s "$WORK/server/smb.conf" >"$WORK/nmbd.out" 2>&1 &
PIDS+=($!)
sleep 8
look() { ip netns exec "$CL" timeout 10 nmblookup -s "$WORK/client/smb.conf" "$@" || true; }
look -B 192.168.78.255 PIRATEBOX
look -U 192.168.78.1 --recursion 'PIRATEBOX#20'
look -A 192.168.78.1
look -B 192.168.78.255 NOBODYHERE
sleep 1
kill "${PIDS[0]}"
wait "${PIDS[0]}" 2>/dev/null || true
tail -5 "$WORK/nmbd.out" >&2
cp "$WORK/raw.pcap" "$HERE/nbns.pcap"
chmod 644 "$HERE/nbns.pcap"
echo "wrote $HERE/nbns.pcap"
