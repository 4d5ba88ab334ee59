#!/usr/bin/env bash
# Records captures/webdav.pcap: curl using a WebDAV file server (nginx-light's dav
# module, www.mtr-pirate.example at 127.0.0.2:80) as a pirate copy's upload and
# download place, with the methods tshark reads as HTTP: MKCOL, PUT, COPY, MOVE,
# PROPFIND (answered 405: nginx-light has no PROPFIND), GET, DELETE. Then two
# requests whose heads a strict parser refuses and tshark reads: a request line
# padded with a second space (`curl -X 'GET '`), and a header line with a control
# byte in its value.
#
# Everything runs in one network namespace on its loopback interface; curl finds
# the server by --resolve, from 127.0.0.100. Every process is bounded by `timeout`
# and stopped by the EXIT trap, which also removes the namespace.
#
# Needs root. Usage: captures/record-webdav.sh
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
NS=dav-rec
LIFE=30

die() {
	echo "record-webdav.sh: $*" >&2
	exit 1
}
[ "$(id -u)" = 0 ] || die "needs root (ip netns, dumpcap)"
for t in ip nginx curl dumpcap timeout; do
	command -v "$t" >/dev/null || die "missing tool: $t"
done

WORK=$(mktemp -d /tmp/whohosts-webdav.XXXXXX)
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

mkdir -p "$WORK/dav"
chmod 777 "$WORK/dav"
echo "MT Reloaded 1.4.2" >"$WORK/mtr.zip"
cat >"$WORK/nginx.conf" <<EOF
daemon off;
master_process off;
pid $WORK/nginx.pid;
error_log $WORK/nginx.log;
events {}
http {
	access_log off;
	client_body_temp_path $WORK/body;
	server {
		listen 127.0.0.2:80;
		root $WORK/dav;
		dav_methods PUT DELETE MKCOL COPY MOVE;
		create_full_put_path on;
	}
}
EOF
in_ns timeout "$LIFE" nginx -c "$WORK/nginx.conf" &
PIDS+=($!)
sleep 1

in_ns timeout "$LIFE" dumpcap -q -P -i lo -f 'tcp port 80' -w "$WORK/webdav.pcap" 2>/dev/null &
DUMPCAP=$!
PIDS+=($DUMPCAP)
sleep 1
BASE=http://www.mtr-pirate.example
dav() { in_ns timeout 10 curl -sS -o /dev/null --interface 127.0.0.100 --resolve www.mtr-pirate.example:80:127.0.0.2 "$@" || true; }
dav -X MKCOL "$BASE/games/"
dav -T "$WORK/mtr.zip" "$BASE/games/mtr.zip"
dav -X COPY -H "Destination: $BASE/games/mtr-copy.zip" "$BASE/games/mtr.zip"
dav -X MOVE -H "Destination: $BASE/games/mtr-1.4.2.zip" "$BASE/games/mtr-copy.zip"
dav -X PROPFIND -H "Depth: 1" "$BASE/games/"
dav "$BASE/games/mtr-1.4.2.zip"
dav -X DELETE "$BASE/games/mtr.zip"
dav -X 'GET ' "$BASE/games/mtr-1.4.2.zip"
dav -H "$(printf 'X-Build: 1.4\0012')" "$BASE/games/mtr-1.4.2.zip"
sleep 1
kill "$DUMPCAP"
wait "$DUMPCAP" 2>/dev/null || true

cp "$WORK/webdav.pcap" "$HERE/webdav.pcap"
chmod 644 "$HERE/webdav.pcap"
echo "wrote $HERE/webdav.pcap"
