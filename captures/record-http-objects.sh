#!/usr/bin/env bash
# Records captures/http-objects.pcap: plain HTTP/1.1 between real peers on
# loopback, for the objects an analysis lists and extracts (`analyze --objects`,
# `--extract`): nginx (Debian's nginx-light) serving with gzip on, and curl asking
# for, on kept-alive connections: a page gzip-compressed and chunked, a binary file
# whole, the same file in two Range requests (206), a HEAD, a conditional request
# answered 304, a small text file, and a 404.
#
# nginx listens on 127.0.0.1:18089 only, with its own configuration and files in a
# scratch directory; dumpcap captures that port on lo. Every process is bounded by
# `timeout` and stopped by the EXIT trap.
#
# Needs root (dumpcap on lo). Usage: captures/record-http-objects.sh
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
PORT=18089
LIFE=30

die() {
	echo "record-http-objects.sh: $*" >&2
	exit 1
}
[ "$(id -u)" = 0 ] || die "needs root (dumpcap)"
for t in nginx curl dumpcap python3 editcap timeout; do
	command -v "$t" >/dev/null || die "missing tool: $t"
done

WORK=$(mktemp -d /tmp/whohosts-objects.XXXXXX)
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	[ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK/www/pkg" "$WORK/logs" "$WORK/tmp"
# nginx's worker runs unprivileged: it must be able to read the files.
chmod 755 "$WORK"
# Files made the same way every time (a seeded generator, no randomness).
python3 - "$WORK/www" <<'PY'
import random, sys
root = sys.argv[1]
r = random.Random(24)
open(f"{root}/pkg/game.apk", "wb").write(bytes(r.getrandbits(8) for _ in range(150_000)))
words = ["pirate", "stream", "episode", "season", "mirror", "download", "player"]
page = "<html><body>\n" + "".join(
    f"<p>{i} {' '.join(r.choice(words) for _ in range(12))}</p>\n" for i in range(2500)
) + "</body></html>\n"
open(f"{root}/index.html", "w").write(page)
open(f"{root}/readme.txt", "w").write("whohosts objects test\n")
PY
chmod -R a+rX "$WORK/www"
cat >"$WORK/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $WORK/nginx.pid;
error_log $WORK/logs/error.log;
events { worker_connections 64; }
http {
    access_log $WORK/logs/access.log;
    client_body_temp_path $WORK/tmp;
    default_type application/octet-stream;
    types { text/html html; text/plain txt; application/vnd.android.package-archive apk; }
    sendfile off;
    keepalive_requests 100;
    gzip on;
    gzip_types text/plain;
    gzip_min_length 1000;
    server {
        listen 127.0.0.1:$PORT;
        server_name dl.objects.example;
        root $WORK/www;
    }
}
CONF
timeout "$LIFE" nginx -c "$WORK/nginx.conf" -p "$WORK" &
PIDS+=($!)
timeout "$LIFE" dumpcap -q -P -i lo -f "tcp port $PORT" -w "$WORK/raw.pcap" 2>"$WORK/logs/dumpcap.log" &
PIDS+=($!)
for _ in $(seq 50); do
	[ -s "$WORK/raw.pcap" ] || { sleep 0.1; continue; }
	curl -s -o /dev/null "http://127.0.0.1:$PORT/readme.txt" 2>/dev/null && break
	sleep 0.1
done
# The probe above is in the capture too; what follows is what the tests look at.
sleep 1
BASE="http://dl.objects.example:$PORT"
RES=(--resolve "dl.objects.example:$PORT:127.0.0.1")
# One connection, several requests (keep-alive): gzip + chunked, whole file, 404.
timeout 10 curl -sS "${RES[@]}" --compressed -o /dev/null -o /dev/null -o /dev/null \
	"$BASE/index.html" "$BASE/pkg/game.apk" "$BASE/missing.bin"
# The same file in two ranges, on one connection.
timeout 10 curl -sS "${RES[@]}" -r 0-59999 -o /dev/null "$BASE/pkg/game.apk" \
	--next "${RES[@]}" -r 60000- -o /dev/null "$BASE/pkg/game.apk"
# HEAD, then a conditional GET answered 304.
timeout 10 curl -sS "${RES[@]}" -I -o /dev/null "$BASE/pkg/game.apk"
ETAG=$(timeout 10 curl -sS "${RES[@]}" -I "$BASE/readme.txt" | tr -d '\r' | sed -n 's/^[Ee][Tt]ag: //p')
timeout 10 curl -sS "${RES[@]}" -H "If-None-Match: $ETAG" -o /dev/null "$BASE/readme.txt"
sleep 1
kill "${PIDS[1]}" 2>/dev/null || true
wait "${PIDS[1]}" 2>/dev/null || true
# Frame times shifted to a fixed date (2026-11-24), as the other recordings.
first=$(python3 - "$WORK/raw.pcap" <<'PY'
import struct, sys
b = open(sys.argv[1], "rb").read(40)
print(struct.unpack("<I", b[24:28])[0])
PY
)
editcap -F pcap -t $((1795525841 - first)) "$WORK/raw.pcap" "$HERE/http-objects.pcap"
echo "wrote $HERE/http-objects.pcap"
