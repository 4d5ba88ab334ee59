#!/usr/bin/env bash
# Records captures/dns-port.pcap: DNS on a port DNS does not use. dnsmasq answers
# on 127.0.0.53:5300 (UDP) inside a network namespace; `dig -p 5300` asks it for
# dl.mtr-pirate.example (A) and www.mtr-pirate.example (AAAA) from 127.0.0.100.
# tshark reads it with `-d udp.port==5300,dns`.
#
# Every process is bounded by `timeout` and stopped by the EXIT trap, which also
# removes the namespace. Nothing touches the host's network.
#
# Needs root. Usage: captures/record-dns-port.sh   (writes captures/dns-port.pcap)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
NS=prx-dnsport
LIFE=20

die() {
	echo "record-dns-port.sh: $*" >&2
	exit 1
}
[ "$(id -u)" = 0 ] || die "needs root (ip netns, dumpcap)"
for t in ip dnsmasq dig dumpcap timeout; do
	command -v "$t" >/dev/null || die "missing tool: $t"
done

WORK=$(mktemp -d /tmp/whohosts-dnsport.XXXXXX)
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
ip netns exec "$NS" timeout "$LIFE" dnsmasq --no-daemon --no-resolv --no-hosts \
	--listen-address=127.0.0.53 --bind-interfaces --port=5300 \
	--address=/dl.mtr-pirate.example/47.236.91.18 \
	--address=/www.mtr-pirate.example/2606:4700:3030::6815:3007 \
	--pid-file="$WORK/dnsmasq.pid" >"$WORK/dnsmasq.log" 2>&1 &
PIDS+=($!)
sleep 1
ip netns exec "$NS" timeout "$LIFE" dumpcap -q -P -i lo -f 'udp port 5300' -w "$WORK/raw.pcap" 2>/dev/null &
DUMP=$!
PIDS+=($DUMP)
sleep 1
ip netns exec "$NS" timeout 5 dig +short -b 127.0.0.100 -p 5300 @127.0.0.53 dl.mtr-pirate.example A
ip netns exec "$NS" timeout 5 dig +short -b 127.0.0.100 -p 5300 @127.0.0.53 www.mtr-pirate.example AAAA
sleep 1
kill "$DUMP"
wait "$DUMP" 2>/dev/null || true
cp "$WORK/raw.pcap" "$HERE/dns-port.pcap"
chmod 644 "$HERE/dns-port.pcap"
echo "wrote $HERE/dns-port.pcap"
