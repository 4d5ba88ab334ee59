#!/usr/bin/env bash
# Records captures/proxy-socks-udp.pcap: a client using a SOCKS5 UDP relay (UDP
# ASSOCIATE, RFC 1928 section 7) of a real proxy, danted, on loopback inside one
# network namespace. The client (tools/socks_udp.py) asks for the relay over TCP,
# then sends through it, each datagram behind its SOCKS header: a DNS query for
# dl.mtr-pirate.example (A) to the resolver by address, one for
# www.mtr-pirate.example (AAAA) to the resolver by name, and a QUIC v1 handshake
# (aioquic, SNI game.mtr-pirate.example) to the game server by name. Only the
# client's legs are captured (its TCP connection to the proxy and its datagrams
# to and from the relay), as a client's capture holds them.
#
#   127.0.0.12:1080  danted (no authentication; its UDP relay on 127.0.0.12)
#   127.0.0.53:53    dnsmasq (resolver.mtr-pirate.example in the proxy's hosts)
#   127.0.0.2:443    QUIC server, tools/quic_h3.py (game.mtr-pirate.example)
#   127.0.0.100      the client
# Every process is bounded by `timeout` and stopped by the EXIT trap, which also
# removes the namespace and its hosts file. Nothing touches the host's network.
#
# With `targets`, records captures/proxy-relay-target.pcap instead: the resolver
# and the game server sit on provider addresses (on the namespace's loopback, as
# record-proxy-target.sh does), and the client uses two relays: one for the DNS
# queries (the resolver by address, 43.136.75.21, Tencent Cloud; then by name, so
# that relay carries datagrams for two servers), one for the QUIC handshake to the
# game server by address (47.236.91.18:443, Alibaba Cloud), so that relay carries
# one server's only.
#
# Needs root. Usage: captures/record-socks-udp.sh [targets]
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
NS=prx-udp
LIFE=30
MODE=${1:-}
case "$MODE" in
"") RESOLVER=127.0.0.53 GAME=127.0.0.2 OUT=proxy-socks-udp.pcap ;;
targets) RESOLVER=43.136.75.21 GAME=47.236.91.18 OUT=proxy-relay-target.pcap ;;
*)
	echo "usage: $0 [targets]" >&2
	exit 2
	;;
esac

die() {
	echo "record-socks-udp.sh: $*" >&2
	exit 1
}
[ "$(id -u)" = 0 ] || die "needs root (ip netns, dumpcap)"
for t in ip danted dnsmasq openssl python3 dumpcap editcap timeout; do
	command -v "$t" >/dev/null || die "missing tool: $t"
done
python3 -c 'import aioquic' 2>/dev/null || die "missing Python package aioquic (pip install aioquic)"

WORK=$(mktemp -d /tmp/whohosts-socks-udp.XXXXXX)
chmod 755 "$WORK"
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	ip netns del "$NS" 2>/dev/null || true
	rm -rf "/etc/netns/$NS" "$WORK"
}
trap cleanup EXIT

ip netns add "$NS"
mkdir -p "/etc/netns/$NS"
cat >"/etc/netns/$NS/hosts" <<HOSTS
127.0.0.1 localhost
$RESOLVER resolver.mtr-pirate.example
$GAME game.mtr-pirate.example
HOSTS
ip -n "$NS" link set lo up
if [ "$MODE" = targets ]; then
	ip -n "$NS" addr add "$RESOLVER/32" dev lo
	ip -n "$NS" addr add "$GAME/32" dev lo
fi
in_ns() { ip netns exec "$NS" "$@"; }

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
	-subj /CN=game.mtr-pirate.example -addext "subjectAltName=DNS:game.mtr-pirate.example" \
	-keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
in_ns timeout "$LIFE" dnsmasq --no-daemon --no-resolv --no-hosts \
	--listen-address="$RESOLVER" --bind-interfaces --port=53 \
	--address=/dl.mtr-pirate.example/47.236.91.18 \
	--address=/www.mtr-pirate.example/2606:4700:3033::6815:1a2b \
	--pid-file="$WORK/dnsmasq.pid" >"$WORK/dnsmasq.log" 2>&1 &
PIDS+=($!)
in_ns timeout "$LIFE" python3 "$HERE/tools/quic_h3.py" server --host "$GAME" --port 443 \
	--cert "$WORK/cert.pem" --key "$WORK/key.pem" --lifetime "$LIFE" >/dev/null 2>&1 &
PIDS+=($!)
cat >"$WORK/danted.conf" <<CONF
logoutput: $WORK/danted.log
internal: 127.0.0.12 port = 1080
external: 127.0.0.12
clientmethod: none
socksmethod: none
user.privileged: root
user.unprivileged: nobody
client pass { from: 0.0.0.0/0 to: 0.0.0.0/0 }
socks pass { from: 0.0.0.0/0 to: 0.0.0.0/0 command: connect udpassociate }
socks pass { from: 0.0.0.0/0 to: 0.0.0.0/0 command: udpreply }
CONF
in_ns timeout "$LIFE" danted -f "$WORK/danted.conf" -p "$WORK/danted.pid" &
PIDS+=($!)
sleep 2

in_ns timeout "$LIFE" dumpcap -q -P -i lo -f 'host 127.0.0.100' -w "$WORK/raw.pcap" 2>/dev/null &
CAP=$!
PIDS+=($CAP)
sleep 1
DNS_ARGS=(--resolver "$RESOLVER" --resolver-name resolver.mtr-pirate.example
	--a-name dl.mtr-pirate.example --aaaa-name www.mtr-pirate.example)
client() { in_ns timeout 20 python3 "$HERE/tools/socks_udp.py" --proxy 127.0.0.12:1080 --bind 127.0.0.100 "$@"; }
if [ "$MODE" = targets ]; then
	client --steps dns "${DNS_ARGS[@]}"
	client --steps quic --quic-target "$GAME:443" --quic-sni game.mtr-pirate.example
else
	client "${DNS_ARGS[@]}" --quic-target game.mtr-pirate.example:443 --quic-sni game.mtr-pirate.example
fi
sleep 1
kill -INT "$CAP" 2>/dev/null || true
wait "$CAP" 2>/dev/null || true

first=$(python3 -c '
import struct,sys
d=open(sys.argv[1],"rb").read()
print(struct.unpack("<I",d[24:28])[0])' "$WORK/raw.pcap")
editcap -F pcap -t $((1795525841 - first)) "$WORK/raw.pcap" "$HERE/$OUT"
echo "wrote $HERE/$OUT"
