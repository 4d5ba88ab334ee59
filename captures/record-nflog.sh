#!/usr/bin/env bash
# Records captures/encap-nflog.pcap: Linux NFLOG (link type 239) as Android and
# iptables setups capture it. In a network namespace of its own, an iptables rule
# copies every packet leaving through loopback to NFLOG group 5, which dumpcap reads
# (`-i nflog:5`); dig asks dnsmasq for `cdn.mtr-pirate.example`, curl fetches it
# over HTTPS from openssl s_server (SNI) and a page from busybox httpd with
# `Host: www.mtr-pirate.example`, all on 127.0.0.2. Every process is bounded by
# `timeout` and stopped by the EXIT trap, which also removes the namespace.
#
# Needs root. Usage: captures/record-nflog.sh
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
NS=enc-nflog
LIFE=30

die() {
	echo "record-nflog.sh: $*" >&2
	exit 1
}
[ "$(id -u)" = 0 ] || die "needs root (ip netns, iptables, dumpcap)"
for t in ip iptables busybox dnsmasq dig curl openssl python3 dumpcap editcap timeout; do
	command -v "$t" >/dev/null || die "missing tool: $t"
done

WORK=$(mktemp -d /tmp/whohosts-nflog.XXXXXX)
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
ip netns exec "$NS" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
ip netns exec "$NS" iptables -A OUTPUT -o lo -j NFLOG --nflog-group 5

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
	-subj /CN=cdn.mtr-pirate.example -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
mkdir -p "$WORK/www"
echo "MT Reloaded mirror" >"$WORK/www/index.html"
ip netns exec "$NS" timeout "$LIFE" busybox httpd -f -p 127.0.0.2:80 -h "$WORK/www" &
PIDS+=($!)
ip netns exec "$NS" timeout "$LIFE" openssl s_server -quiet -accept 127.0.0.2:443 \
	-cert "$WORK/cert.pem" -key "$WORK/key.pem" -www >/dev/null 2>&1 &
PIDS+=($!)
ip netns exec "$NS" timeout "$LIFE" dnsmasq --no-daemon --no-resolv --no-hosts \
	--listen-address=127.0.0.2 --bind-interfaces --port=53 \
	--address=/cdn.mtr-pirate.example/127.0.0.2 --pid-file="$WORK/dnsmasq.pid" \
	>"$WORK/dnsmasq.log" 2>&1 &
PIDS+=($!)
sleep 1
ip netns exec "$NS" timeout "$LIFE" dumpcap -q -P -i nflog:5 -w "$WORK/raw.pcap" &
PIDS+=($!)
sleep 2

ip netns exec "$NS" timeout 10 dig +tries=1 +time=2 @127.0.0.2 cdn.mtr-pirate.example A >/dev/null
ip netns exec "$NS" timeout 10 curl -sS -k -o /dev/null --resolve cdn.mtr-pirate.example:443:127.0.0.2 \
	https://cdn.mtr-pirate.example/
ip netns exec "$NS" timeout 10 curl -sS -o /dev/null -H "Host: www.mtr-pirate.example" \
	http://127.0.0.2/index.html
sleep 1
kill -INT "${PIDS[3]}" 2>/dev/null || true
wait "${PIDS[3]}" 2>/dev/null || true

first=$(python3 -c '
import struct,sys
d=open(sys.argv[1],"rb").read()
print(struct.unpack("<I",d[24:28])[0])' "$WORK/raw.pcap")
editcap -F pcap -t $((1795525841 - first)) "$WORK/raw.pcap" "$HERE/encap-nflog.pcap"
echo "wrote $HERE/encap-nflog.pcap"
