#!/usr/bin/env bash
# Records captures/doh.pcap and captures/doh.keys: curl resolving a name over DNS
# over HTTPS (RFC 8484) and then fetching it over HTTPS, with the key log curl
# wrote (SSLKEYLOGFILE), on loopback inside a network namespace of its own.
#
#   127.0.0.53:443   unbound, DoH (HTTP/2, /dns-query), dl.mtr-pirate.example A 127.0.0.2
#   127.0.0.2:8443   openssl s_server (TLS 1.3)
#   127.0.0.100      curl --doh-url https://127.0.0.53/dns-query, fetching the
#                    name (its DoH connections leave from 127.0.0.1)
# Every process is bounded by `timeout` and stopped by the EXIT trap, which also
# removes the namespace. Nothing touches the host's network.
#
# Needs root. Usage: captures/record-doh.sh
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
NS=doh-rec
LIFE=30

die() {
	echo "record-doh.sh: $*" >&2
	exit 1
}
[ "$(id -u)" = 0 ] || die "needs root (ip netns, dumpcap)"
for t in ip unbound openssl curl python3 dumpcap editcap timeout; do
	command -v "$t" >/dev/null || die "missing tool: $t"
done

WORK=$(mktemp -d /tmp/whohosts-doh.XXXXXX)
chmod 755 "$WORK"
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
in_ns() { ip netns exec "$NS" "$@"; }

for n in resolver dl; do
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
		-subj "/CN=$n.mtr-pirate.example" -addext "subjectAltName=DNS:$n.mtr-pirate.example" \
		-keyout "$WORK/$n.key" -out "$WORK/$n.pem" 2>/dev/null
done
cat >"$WORK/unbound.conf" <<CONF
server:
	username: ""
	chroot: ""
	directory: "$WORK"
	pidfile: "$WORK/unbound.pid"
	use-syslog: no
	logfile: ""
	do-daemonize: no
	interface: 127.0.0.53@443
	https-port: 443
	tls-service-key: "$WORK/resolver.key"
	tls-service-pem: "$WORK/resolver.pem"
	access-control: 127.0.0.0/8 allow
	module-config: "iterator"
	local-zone: "mtr-pirate.example." static
	local-data: "dl.mtr-pirate.example. 300 IN A 127.0.0.2"
remote-control:
	control-enable: no
CONF
in_ns timeout "$LIFE" unbound -d -c "$WORK/unbound.conf" >"$WORK/unbound.log" 2>&1 &
PIDS+=($!)
in_ns timeout "$LIFE" openssl s_server -quiet -accept 127.0.0.2:8443 -tls1_3 \
	-cert "$WORK/dl.pem" -key "$WORK/dl.key" -www >/dev/null 2>&1 &
PIDS+=($!)
sleep 2

in_ns timeout "$LIFE" dumpcap -q -P -i lo -f 'host 127.0.0.53 or host 127.0.0.2' -w "$WORK/raw.pcap" 2>/dev/null &
CAP=$!
PIDS+=($CAP)
sleep 1
in_ns env SSLKEYLOGFILE="$WORK/keys" timeout 10 curl -sS -k -o /dev/null --interface 127.0.0.100 \
	--doh-url https://127.0.0.53/dns-query --doh-insecure https://dl.mtr-pirate.example:8443/
sleep 1
kill -INT "$CAP" 2>/dev/null || true
wait "$CAP" 2>/dev/null || true

first=$(python3 -c '
import struct,sys
d=open(sys.argv[1],"rb").read()
print(struct.unpack("<I",d[24:28])[0])' "$WORK/raw.pcap")
editcap -F pcap -t $((1795525841 - first)) "$WORK/raw.pcap" "$HERE/doh.pcap"
cp "$WORK/keys" "$HERE/doh.keys"
echo "wrote $HERE/doh.pcap and $HERE/doh.keys"
