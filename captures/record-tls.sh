#!/usr/bin/env bash
# Records captures/tls-*.pcap with their NSS key logs (captures/tls-*.keys):
# curl (SSLKEYLOGFILE) downloading from nginx over HTTPS, HTTP/1.1 and HTTP/2,
# TLS 1.3 and TLS 1.2, AES-GCM and ChaCha20-Poly1305, with an RSA and an ECDSA
# certificate made here (self-signed, thrown away). One capture gets its secrets
# injected as a pcapng Decryption Secrets Block by `editcap --inject-secrets`.
#
# Everything runs in a network namespace of its own (its loopback, MTU 1500 so
# that a download spans many segments); every process is bounded by `timeout`
# and stopped by the EXIT trap, which also removes the namespace.
#
# Needs root, nginx-light (http_v2 and ssl modules), curl, openssl, dumpcap,
# editcap. Usage: captures/record-tls.sh   (writes captures/tls-*)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
NS=whohosts-tls
LIFE=60
HOST=dl.mtr-pirate.example

die() {
	echo "record-tls.sh: $*" >&2
	exit 1
}
[ "$(id -u)" = 0 ] || die "needs root (ip netns, dumpcap)"
for t in ip ethtool nginx curl openssl dumpcap editcap timeout; do
	command -v "$t" >/dev/null || die "missing tool: $t"
done

WORK=$(mktemp -d /tmp/whohosts-tls.XXXXXX)
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
ip -n "$NS" link set lo mtu 1500
ip -n "$NS" link set lo up
# Frames as an Ethernet path carries them: no segmentation offloads.
ip netns exec "$NS" ethtool -K lo tso off gso off gro off >/dev/null 2>&1 || true
ip -n "$NS" addr add 127.0.0.2/8 dev lo 2>/dev/null || true

# Certificates: RSA and ECDSA P-256, for the ECDHE_RSA and ECDHE_ECDSA suites.
openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=$HOST" \
	-addext "subjectAltName=DNS:$HOST" -keyout "$WORK/rsa.key" -out "$WORK/rsa.crt" 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
	-subj "/CN=$HOST" -addext "subjectAltName=DNS:$HOST" \
	-keyout "$WORK/ec.key" -out "$WORK/ec.crt" 2>/dev/null

# Content: a small page and a 200 KB package (not compressible, so that the
# download spans many TLS records and HTTP/2 DATA frames).
mkdir -p "$WORK/www/pkg"
printf '<!doctype html><title>MT Reloaded</title><p>Download <a href="/pkg/game.apk">game.apk</a>\n' >"$WORK/www/index.html"
head -c 204800 /dev/urandom >"$WORK/www/pkg/game.apk"
chmod -R a+rX "$WORK"

cat >"$WORK/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/error.log;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path $WORK/body;
	types { text/html html; application/vnd.android.package-archive apk; }
	server {
		listen 127.0.0.2:443 ssl http2;
		server_name $HOST;
		root $WORK/www;
		ssl_certificate $WORK/rsa.crt;
		ssl_certificate_key $WORK/rsa.key;
		ssl_certificate $WORK/ec.crt;
		ssl_certificate_key $WORK/ec.key;
		ssl_protocols TLSv1.2 TLSv1.3;
		ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305;
		ssl_prefer_server_ciphers off;
		ssl_session_tickets off;
	}
}
EOF
ip netns exec "$NS" timeout "$LIFE" nginx -c "$WORK/nginx.conf" -p "$WORK" &
PIDS+=($!)
sleep 1

# record NAME CURL-ARGS...: one capture of one curl run (both URLs on one connection).
record() {
	local name=$1
	shift
	rm -f "$WORK/$name.keys"
	ip netns exec "$NS" timeout 30 dumpcap -q -P -i lo -f "tcp port 443" -w "$WORK/$name.pcap" 2>/dev/null &
	local dump=$!
	sleep 1
	ip netns exec "$NS" env SSLKEYLOGFILE="$WORK/$name.keys" timeout 20 \
		curl -sS -k --resolve "$HOST:443:127.0.0.2" -o /dev/null -o /dev/null -o /dev/null "$@" \
		"https://$HOST/index.html" "https://$HOST/pkg/game.apk" "https://$HOST/missing"
	sleep 1
	kill -INT "$dump" 2>/dev/null || true
	wait "$dump" 2>/dev/null || true
	# Frame times start at a fixed instant, so that the fixture does not carry
	# the day it was recorded on.
	local first
	first=$(python3 -c '
import struct,sys
d=open(sys.argv[1],"rb").read()
print(struct.unpack("<I",d[24:28])[0])' "$WORK/$name.pcap")
	editcap -F pcap -t $((1795525841 - first)) "$WORK/$name.pcap" "$HERE/$name.pcap"
	cp "$WORK/$name.keys" "$HERE/$name.keys"
	echo "wrote $HERE/$name.pcap ($(stat -c %s "$HERE/$name.pcap") bytes) and $name.keys"
}

record tls13-h2-aes128 --http2 --tlsv1.3 --tls13-ciphers TLS_AES_128_GCM_SHA256
record tls13-h2-aes256 --http2 --tlsv1.3 --tls13-ciphers TLS_AES_256_GCM_SHA384
record tls13-h1-chacha --http1.1 --tlsv1.3 --tls13-ciphers TLS_CHACHA20_POLY1305_SHA256
record tls12-h2-rsa-aes128 --http2 --tls-max 1.2 --ciphers ECDHE-RSA-AES128-GCM-SHA256
record tls12-h1-ecdsa-aes256 --http1.1 --tls-max 1.2 --ciphers ECDHE-ECDSA-AES256-GCM-SHA384
record tls12-h2-rsa-chacha --http2 --tls-max 1.2 --ciphers ECDHE-RSA-CHACHA20-POLY1305

# Headless Chromium over HTTP/2 (TLS 1.3, its own key shares and extensions):
# the page and the package, on one connection.
record_chromium() {
	local name=tls13-h2-chromium
	rm -f "$WORK/$name.keys"
	ip netns exec "$NS" timeout 30 dumpcap -q -P -i lo -f "tcp port 443" -w "$WORK/$name.pcap" 2>/dev/null &
	local dump=$!
	sleep 1
	printf '<!doctype html><title>MT Reloaded</title><img src="/index.html"><script>fetch("/pkg/game.apk").then(r=>r.arrayBuffer()).then(b=>document.title="got "+b.byteLength)</script>\n' >"$WORK/www/page.html"
	ip netns exec "$NS" env SSLKEYLOGFILE="$WORK/$name.keys" HOME="$WORK" timeout 30 \
		chromium --headless --no-sandbox --disable-gpu --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync \
		--user-data-dir="$WORK/profile" --ignore-certificate-errors \
		--host-resolver-rules="MAP $HOST 127.0.0.2" --virtual-time-budget=5000 \
		--dump-dom "https://$HOST/page.html" >"$WORK/chromium.dom" 2>"$WORK/chromium.log" || true
	sleep 1
	kill -INT "$dump" 2>/dev/null || true
	wait "$dump" 2>/dev/null || true
	local first
	first=$(python3 -c '
import struct,sys
d=open(sys.argv[1],"rb").read()
print(struct.unpack("<I",d[24:28])[0])' "$WORK/$name.pcap")
	editcap -F pcap -t $((1795525841 - first)) "$WORK/$name.pcap" "$HERE/$name.pcap"
	cp "$WORK/$name.keys" "$HERE/$name.keys"
	echo "wrote $HERE/$name.pcap ($(stat -c %s "$HERE/$name.pcap") bytes) and $name.keys"
}
if command -v chromium >/dev/null; then record_chromium; fi

# The same TLS 1.3 capture with its secrets inside: a Decryption Secrets Block.
editcap --inject-secrets "tls,$HERE/tls13-h2-aes128.keys" "$HERE/tls13-h2-aes128.pcap" \
	"$HERE/tls13-h2-dsb.pcapng"
echo "wrote $HERE/tls13-h2-dsb.pcapng"
