#!/usr/bin/env bash
# Records captures/encap-ovs-{gre,geneve,erspan2,erspan3}.pcap: a client reaching a
# server through a real tunnel made by Open vSwitch's userspace datapath (no kernel
# tunnel module needed: this is how these tunnels are recorded live on a kernel
# without the gre/geneve modules). Two network namespaces joined by a veth pair,
# each running its own ovsdb-server and ovs-vswitchd (`--disable-system`, bridges
# of datapath type netdev): an underlay bridge holding the veth and the underlay
# address, and an overlay bridge holding the overlay address and the tunnel port.
# Captured on the client's veth, so every frame holds outer Ethernet/IPv4 and the
# tunnel around the inner Ethernet frame (ARP included, as the tunnel carried it).
# Real programs throughout: dnsmasq (DNS), openssl s_server (TLS with SNI), busybox
# httpd (HTTP Host), dig, curl, dumpcap.
#
#   gre      GRE, Transparent Ethernet Bridging, key 7, sequence numbers (OVS's
#            userspace GRE checksum was wrong on the wire when tried, so none)
#   geneve   Geneve, VNI 42
#   erspan2  ERSPAN type II (GRE 0x88be with a sequence number), index 3, session 42
#   erspan3  ERSPAN type III (GRE 0x22eb), direction 1, hardware id 4, session 42
#
# Underlay 10.250.3.1 (client) - 10.250.3.2 (server); overlay 198.18.27.1 -
# 198.18.27.2. Nothing touches the host's network; every process is bounded by
# `timeout` or stopped by the EXIT trap, which also removes the namespaces.
#
# Needs root and Debian's openvswitch-switch. Usage: captures/record-ovs.sh [KIND...]
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
CL=ovs-client
SV=ovs-server
LIFE=20

die() {
	echo "record-ovs.sh: $*" >&2
	exit 1
}
[ "$(id -u)" = 0 ] || die "needs root (ip netns, dumpcap)"
for t in ip ovsdb-tool ovsdb-server ovs-vswitchd ovs-vsctl busybox dnsmasq dig curl openssl python3 dumpcap editcap timeout; do
	command -v "$t" >/dev/null || die "missing tool: $t"
done
SCHEMA=/usr/share/openvswitch/vswitch.ovsschema
[ -f "$SCHEMA" ] || die "missing $SCHEMA (openvswitch-switch)"

WORK=$(mktemp -d /tmp/whohosts-ovs.XXXXXX)
PIDS=()
stop_all() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	PIDS=()
	for p in "$WORK"/*/*.pid; do
		[ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null || true
	done
	sleep 0.5
	ip netns del "$CL" 2>/dev/null || true
	ip netns del "$SV" 2>/dev/null || true
}
trap 'stop_all; rm -rf "$WORK"' EXIT

# One side: its namespace, veth, underlay address, the peer's, overlay address, and
# the tunnel port's type and options.
side() {
	local ns=$1 dev=$2 under=$3 peer=$4 over=$5 type=$6
	shift 6
	local d=$WORK/$ns
	rm -rf "$d"
	mkdir -p "$d"
	ovsdb-tool create "$d/conf.db" "$SCHEMA"
	ip netns exec "$ns" ovsdb-server "$d/conf.db" --remote="punix:$d/db.sock" \
		--pidfile="$d/ovsdb.pid" --unixctl="$d/ovsdb.ctl" --log-file="$d/ovsdb.log" --detach
	local vsctl=(ip netns exec "$ns" ovs-vsctl --db="unix:$d/db.sock" --timeout=10)
	"${vsctl[@]}" --no-wait init
	OVS_RUNDIR=$d ip netns exec "$ns" ovs-vswitchd "unix:$d/db.sock" --disable-system \
		--pidfile="$d/vswitchd.pid" --unixctl="$d/vswitchd.ctl" --log-file="$d/vswitchd.log" --detach
	ip -n "$ns" link set lo up
	ip -n "$ns" link set "$dev" up
	"${vsctl[@]}" add-br br-u -- set bridge br-u datapath_type=netdev
	"${vsctl[@]}" add-port br-u "$dev"
	"${vsctl[@]}" add-br br-o -- set bridge br-o datapath_type=netdev
	"${vsctl[@]}" add-port br-o tun0 -- set interface tun0 type="$type" \
		options:remote_ip="$peer" "$@"
	ip -n "$ns" addr add "$under/24" dev br-u
	ip -n "$ns" link set br-u up
	ip -n "$ns" addr add "$over/24" dev br-o
	ip -n "$ns" link set br-o mtu 1400 up
}

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
	-subj /CN=ovs.mtr-pirate.example -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
mkdir -p "$WORK/www"
echo "MT Reloaded mirror" >"$WORK/www/index.html"

record() {
	local kind=$1 type=$2
	shift 2
	ip netns add "$CL"
	ip netns add "$SV"
	ip link add ovs-cl type veth peer name ovs-sv
	ip link set ovs-cl netns "$CL"
	ip link set ovs-sv netns "$SV"
	for ns in "$CL" "$SV"; do
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
	done
	side "$CL" ovs-cl 10.250.3.1 10.250.3.2 198.18.27.1 "$type" "$@"
	side "$SV" ovs-sv 10.250.3.2 10.250.3.1 198.18.27.2 "$type" "$@"
	ip netns exec "$SV" timeout "$LIFE" busybox httpd -f -p 198.18.27.2:80 -h "$WORK/www" &
	PIDS+=($!)
	ip netns exec "$SV" timeout "$LIFE" openssl s_server -quiet -accept 198.18.27.2:443 \
		-cert "$WORK/cert.pem" -key "$WORK/key.pem" -www >/dev/null 2>&1 &
	PIDS+=($!)
	ip netns exec "$SV" timeout "$LIFE" dnsmasq --no-daemon --no-resolv --no-hosts \
		--listen-address=198.18.27.2 --bind-interfaces --port=53 \
		--address=/ovs.mtr-pirate.example/198.18.27.2 --pid-file="$WORK/dnsmasq.pid" \
		>"$WORK/dnsmasq.log" 2>&1 &
	PIDS+=($!)
	sleep 2
	ip netns exec "$CL" timeout "$LIFE" dumpcap -q -P -i ovs-cl -w "$WORK/raw.pcap" 2>/dev/null &
	local cap=$!
	PIDS+=($cap)
	sleep 1
	ip netns exec "$CL" timeout 10 dig +tries=2 +time=2 @198.18.27.2 ovs.mtr-pirate.example A >/dev/null
	ip netns exec "$CL" timeout 10 curl -sS -k -o /dev/null \
		--resolve ovs.mtr-pirate.example:443:198.18.27.2 https://ovs.mtr-pirate.example/
	ip netns exec "$CL" timeout 10 curl -sS -o /dev/null -H "Host: www.mtr-pirate.example" \
		http://198.18.27.2/index.html
	sleep 1
	kill -INT "$cap" 2>/dev/null || true
	wait "$cap" 2>/dev/null || true
	# Frame times start at a fixed instant, so that the fixture does not carry the
	# day it was recorded on.
	local first
	first=$(python3 -c '
import struct,sys
d=open(sys.argv[1],"rb").read()
print(struct.unpack("<I",d[24:28])[0])' "$WORK/raw.pcap")
	editcap -F pcap -t $((1795525841 - first)) "$WORK/raw.pcap" "$HERE/encap-ovs-$kind.pcap"
	echo "wrote $HERE/encap-ovs-$kind.pcap"
	stop_all
}

kinds=("$@")
[ ${#kinds[@]} -gt 0 ] || kinds=(gre geneve erspan2 erspan3)
for kind in "${kinds[@]}"; do
	case $kind in
	gre) record gre gre options:key=7 options:seq=true ;;
	geneve) record geneve geneve options:key=42 ;;
	erspan2) record erspan2 erspan options:erspan_ver=1 options:erspan_idx=3 options:key=42 ;;
	erspan3) record erspan3 erspan options:erspan_ver=2 options:erspan_dir=1 options:erspan_hwid=4 options:key=42 ;;
	*) die "unknown kind $kind (gre, geneve, erspan2, erspan3)" ;;
	esac
done
