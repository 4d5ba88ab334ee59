#!/usr/bin/env bash
# Records captures/proxy-socks.pcap and captures/proxy-http.pcap: curl reaching a
# web server (nginx, HTTPS with a self-signed certificate and HTTP) through real
# proxies: microsocks (SOCKS5, without and with username/password), danted
# (SOCKS4, SOCKS4a, SOCKS5), tinyproxy (HTTP CONNECT and forward proxying) and
# nginx as a forward proxy that keeps its client connections alive (two forward
# requests for two hosts on one connection).
#
# Everything runs in one network namespace on its loopback interface, whose
# /etc/hosts (bind-mounted by `ip netns exec`) names the web server, so that
# proxies and curl resolve the names without DNS:
#   127.0.0.2, ::1   nginx (dl.mtr-pirate.example, www.mtr-pirate.example)
#   127.0.0.10:1080  microsocks, no authentication
#   127.0.0.11:1080  microsocks, user "bob", password "secret"
#   127.0.0.12:1080  danted, no authentication
#   127.0.0.13:8888  tinyproxy
#   127.0.0.14:3128  nginx, forwarding absolute-form requests to the web server
#   127.0.0.100      curl
# Every process is bounded by `timeout` and stopped by the EXIT trap, which also
# removes the namespace. Nothing touches the host's network.
#
# Needs root. Usage: captures/record-proxy.sh
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
NS=prx-rec
LIFE=60

die() {
	echo "record-proxy.sh: $*" >&2
	exit 1
}
[ "$(id -u)" = 0 ] || die "needs root (ip netns, dumpcap)"
for t in ip nginx microsocks danted tinyproxy curl openssl dumpcap timeout; do
	command -v "$t" >/dev/null || die "missing tool: $t"
done

WORK=$(mktemp -d /tmp/whohosts-proxy.XXXXXX)
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
cat >"/etc/netns/$NS/hosts" <<'EOF'
127.0.0.1 localhost
127.0.0.2 dl.mtr-pirate.example www.mtr-pirate.example
::1 v6.mtr-pirate.example
EOF
ip -n "$NS" link set lo up
in_ns() { ip netns exec "$NS" "$@"; }

# The web server.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
	-subj /CN=dl.mtr-pirate.example \
	-addext "subjectAltName=DNS:dl.mtr-pirate.example,DNS:www.mtr-pirate.example,DNS:v6.mtr-pirate.example" \
	-keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
mkdir -p "$WORK/www"
echo "MT Reloaded 1.4.2" >"$WORK/www/index.html"
cat >"$WORK/nginx.conf" <<EOF
daemon off;
master_process off;
pid $WORK/nginx.pid;
error_log $WORK/nginx.log;
events {}
http {
	access_log off;
	server {
		listen 127.0.0.2:80;
		listen 127.0.0.2:443 ssl;
		listen [::1]:443 ssl;
		ssl_certificate $WORK/cert.pem;
		ssl_certificate_key $WORK/key.pem;
		root $WORK/www;
	}
	server {
		listen 127.0.0.14:3128;
		keepalive_timeout 30;
		location / {
			proxy_pass http://127.0.0.2;
			proxy_set_header Host \$host;
		}
	}
}
EOF
in_ns timeout "$LIFE" nginx -c "$WORK/nginx.conf" &
PIDS+=($!)

# The proxies.
in_ns timeout "$LIFE" microsocks -i 127.0.0.10 -p 1080 >/dev/null 2>&1 &
PIDS+=($!)
in_ns timeout "$LIFE" microsocks -i 127.0.0.11 -p 1080 -u bob -P secret >/dev/null 2>&1 &
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

# SOCKS: microsocks and danted.
in_ns timeout "$LIFE" dumpcap -q -P -i lo -f 'tcp port 1080' -w "$WORK/socks.pcap" 2>/dev/null &
TCPDUMP=$!
PIDS+=($TCPDUMP)
sleep 1
fetch --socks5 127.0.0.10:1080 https://dl.mtr-pirate.example/
fetch --socks5-hostname 127.0.0.10:1080 https://dl.mtr-pirate.example/
fetch --socks5-hostname bob:secret@127.0.0.11:1080 https://www.mtr-pirate.example/
fetch --socks5-hostname bob:wrong@127.0.0.11:1080 https://www.mtr-pirate.example/
fetch --socks5 127.0.0.10:1080 https://v6.mtr-pirate.example/
fetch --socks4 127.0.0.12:1080 http://dl.mtr-pirate.example/
fetch --socks4a 127.0.0.12:1080 https://www.mtr-pirate.example/
fetch --socks5-hostname 127.0.0.12:1080 https://dl.mtr-pirate.example/
sleep 1
kill "$TCPDUMP"
wait "$TCPDUMP" 2>/dev/null || true

# HTTP: tinyproxy.
in_ns timeout "$LIFE" dumpcap -q -P -i lo -f 'tcp port 8888 or tcp port 3128' -w "$WORK/http.pcap" 2>/dev/null &
TCPDUMP=$!
PIDS+=($TCPDUMP)
sleep 1
fetch --proxy http://127.0.0.13:8888 https://dl.mtr-pirate.example/
fetch --proxy http://127.0.0.13:8888 http://www.mtr-pirate.example/
fetch --proxy http://127.0.0.13:8888 https://v6.mtr-pirate.example:8443/
# One connection to the proxy, two requests for two hosts.
fetch --proxy http://127.0.0.14:3128 http://www.mtr-pirate.example/ -o /dev/null http://dl.mtr-pirate.example/
sleep 1
kill "$TCPDUMP"
wait "$TCPDUMP" 2>/dev/null || true

cp "$WORK/socks.pcap" "$HERE/proxy-socks.pcap"
cp "$WORK/http.pcap" "$HERE/proxy-http.pcap"
chmod 644 "$HERE/proxy-socks.pcap" "$HERE/proxy-http.pcap"
echo "wrote $HERE/proxy-socks.pcap and $HERE/proxy-http.pcap"
