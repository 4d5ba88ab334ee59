#!/usr/bin/env bash
# Records captures/proxy-target.pcap: curl asking proxies for servers by address,
# the addresses being public provider addresses (AWS eu-central-1 over IPv4 and
# IPv6, Alibaba Cloud, Tencent Cloud; Cloudflare for a refused request).
#
# Everything runs inside a private network namespace that has only its loopback
# interface: the provider addresses are put on that loopback, where nginx-light
# listens on them, so a proxy's connection to one stays inside the namespace, and
# the refused address is on no interface at all (no route: the proxy's connect
# fails at once, no packet is sent). Only the client-to-proxy legs are captured
# (`tcp port 1080 or tcp port 8888`): the provider addresses appear only inside
# the proxy requests, as in a capture taken on a pirate client pointed at a
# proxy.
#
#   127.0.0.100      curl
#   127.0.0.10:1080  microsocks (SOCKS5)
#   127.0.0.12:1080  danted (SOCKS4)
#   127.0.0.13:8888  tinyproxy (HTTP CONNECT)
#
# Needs root. Usage: captures/record-proxy-target.sh
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
NS=prx-target
LIFE=60

die() {
	echo "record-proxy-target.sh: $*" >&2
	exit 1
}
[ "$(id -u)" = 0 ] || die "needs root (ip netns, dumpcap)"
for t in ip nginx microsocks danted tinyproxy curl openssl dumpcap timeout; do
	command -v "$t" >/dev/null || die "missing tool: $t"
done

WORK=$(mktemp -d /tmp/whohosts-proxy-target.XXXXXX)
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
for a in 52.28.131.173/32 47.236.91.18/32 43.136.75.21/32; do
	ip -n "$NS" addr add "$a" dev lo
done
ip -n "$NS" addr add 2a05:d014::10/128 dev lo nodad
in_ns() { ip netns exec "$NS" "$@"; }

# The servers behind the proxies.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
	-subj /CN=dl.mtr-pirate.example \
	-addext "subjectAltName=DNS:dl.mtr-pirate.example,DNS:v6.mtr-pirate.example" \
	-keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
mkdir -p "$WORK/www/packages"
echo "MT Reloaded 1.4.2" >"$WORK/www/index.html"
head -c 4096 /dev/zero >"$WORK/www/packages/mtr-reloaded-1.4.2-win64.pak"
cat >"$WORK/nginx.conf" <<EOF
daemon off;
master_process off;
pid $WORK/nginx.pid;
error_log $WORK/nginx.log;
events {}
http {
	access_log off;
	server {
		listen 52.28.131.173:80;
		listen 47.236.91.18:443 ssl;
		listen 43.136.75.21:443 ssl;
		listen [2a05:d014::10]:443 ssl;
		ssl_certificate $WORK/cert.pem;
		ssl_certificate_key $WORK/key.pem;
		root $WORK/www;
	}
}
EOF
in_ns timeout "$LIFE" nginx -c "$WORK/nginx.conf" &
PIDS+=($!)

# The proxies.
in_ns timeout "$LIFE" microsocks -i 127.0.0.10 -p 1080 >/dev/null 2>&1 &
PIDS+=($!)
cat >"$WORK/danted.conf" <<EOF
logoutput: $WORK/danted.log
internal: 127.0.0.12 port = 1080
external: lo
clientmethod: none
socksmethod: none
user.privileged: root
user.unprivileged: nobody
client pass { from: 0.0.0.0/0 to: 0.0.0.0/0 }
socks pass { from: 0.0.0.0/0 to: 0.0.0.0/0 }
EOF
in_ns timeout "$LIFE" danted -f "$WORK/danted.conf" -p "$WORK/danted.pid" &
PIDS+=($!)
cat >"$WORK/tinyproxy.conf" <<EOF
User nobody
Group nogroup
Port 8888
Listen 127.0.0.13
Timeout 30
LogFile "$WORK/tinyproxy.log"
PidFile "$WORK/tinyproxy.pid"
MaxClients 10
Allow 127.0.0.0/8
ConnectPort 443
EOF
in_ns timeout "$LIFE" tinyproxy -d -c "$WORK/tinyproxy.conf" >/dev/null 2>&1 &
PIDS+=($!)
sleep 2

fetch() { in_ns timeout 10 curl -sS -o /dev/null --interface 127.0.0.100 -k "$@" || true; }

in_ns timeout "$LIFE" dumpcap -q -P -i lo -f 'tcp port 1080 or tcp port 8888' -w "$WORK/target.pcap" 2>/dev/null &
DUMPCAP=$!
PIDS+=($DUMPCAP)
sleep 1
# SOCKS4 to an IPv4 address, plain HTTP inside (Host: the address).
fetch --socks4 127.0.0.12:1080 http://52.28.131.173/packages/mtr-reloaded-1.4.2-win64.pak
# SOCKS5 with the name resolved by the client: the address goes to the proxy, the
# name only into the TLS inside (SNI). Twice: one target, two requests.
fetch --socks5 127.0.0.10:1080 --resolve dl.mtr-pirate.example:443:47.236.91.18 https://dl.mtr-pirate.example/
fetch --socks5 127.0.0.10:1080 --resolve dl.mtr-pirate.example:443:47.236.91.18 https://dl.mtr-pirate.example/
# SOCKS5 to an IPv6 address.
fetch --socks5 127.0.0.10:1080 --resolve 'v6.mtr-pirate.example:443:[2a05:d014::10]' https://v6.mtr-pirate.example/
# HTTP CONNECT to an IP literal (no SNI: curl sends none for an address).
fetch --proxy http://127.0.0.13:8888 https://43.136.75.21/
# SOCKS4 to an address on no interface: refused (code 91).
fetch --socks4 127.0.0.12:1080 http://104.21.48.7:8080/
sleep 1
kill "$DUMPCAP"
wait "$DUMPCAP" 2>/dev/null || true

cp "$WORK/target.pcap" "$HERE/proxy-target.pcap"
chmod 644 "$HERE/proxy-target.pcap"
echo "wrote $HERE/proxy-target.pcap"
