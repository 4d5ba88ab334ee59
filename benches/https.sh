#!/usr/bin/env bash
# Objects out of a large HTTPS capture with its key log: whohosts against tshark.
#
# Records one HTTPS session (curl with SSLKEYLOGFILE, HTTP/1.1 over TLS 1.3,
# AES-128-GCM, one keep-alive connection) downloading SIZE random bytes cut into
# COUNT files from nginx in a network namespace of its own,
# then times, on the same file and key log:
#   whohosts analyze CAP --keylog KEYS --extract DIR --json OUT -q
#   tshark -r CAP -o tls.keylog_file:KEYS --export-objects http,DIR -q
# and checks that whohosts wrote exactly the served files, and every file tshark
# exported among them (tshark 4.0 may stop following a long connection: it says how
# many each wrote). Wall time, CPU time and peak memory by
# GNU time; one run each, ratios of that run.
#
# Needs root, nginx-light, curl, openssl, dumpcap, tshark, ethtool, bc, GNU time, and a release
# build (`cargo build --release`). Usage: benches/https.sh [SIZE [COUNT]]
# (default 1G in 1024 files; with COUNT 1, one object of SIZE).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
BIN=${WHOHOSTS:-$ROOT/target/release/whohosts}
SIZE=${1:-1G}
COUNT=${2:-1024}
NS=whohosts-https-bench
HOST=dl.mtr-pirate.example

die() {
	echo "https.sh: $*" >&2
	exit 1
}
[ "$(id -u)" = 0 ] || die "needs root (ip netns, dumpcap)"
[ -x "$BIN" ] || die "no release build at $BIN (cargo build --release)"
for t in ip ethtool nginx curl openssl dumpcap capinfos tshark bc /usr/bin/time timeout; do
	command -v "$t" >/dev/null || die "missing tool: $t"
done

WORK=$(mktemp -d /var/tmp/whohosts-https.XXXXXX)
chmod 755 "$WORK"
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	ip netns del "$NS" 2>/dev/null || true
	[ -n "${KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

ip netns add "$NS"
ip -n "$NS" link set lo mtu 1500
ip -n "$NS" link set lo up
# Frames as an Ethernet path carries them: no segmentation offloads.
ip netns exec "$NS" ethtool -K lo tso off gso off gro off >/dev/null 2>&1 || true
ip -n "$NS" addr add 127.0.0.2/8 dev lo 2>/dev/null || true

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
	-subj "/CN=$HOST" -addext "subjectAltName=DNS:$HOST" \
	-keyout "$WORK/ec.key" -out "$WORK/ec.crt" 2>/dev/null
mkdir -p "$WORK/www/pkg" "$WORK/dl"
head -c "$SIZE" /dev/urandom >"$WORK/all"
PART=$(($(stat -c %s "$WORK/all") / COUNT))
split -b "$PART" -d -a 4 "$WORK/all" "$WORK/www/pkg/part"
rm "$WORK/all"
LAST=$(printf '%04d' $((COUNT - 1)))
chmod -R a+rX "$WORK"
cat >"$WORK/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/error.log;
events { worker_connections 16; }
http {
	access_log off;
	client_body_temp_path $WORK/body;
	default_type application/octet-stream;
	server {
		listen 127.0.0.2:443 ssl;
		server_name $HOST;
		root $WORK/www;
		ssl_certificate $WORK/ec.crt;
		ssl_certificate_key $WORK/ec.key;
		ssl_protocols TLSv1.3;
	}
}
EOF
ip netns exec "$NS" timeout 600 nginx -c "$WORK/nginx.conf" -p "$WORK" &
PIDS+=($!)
sleep 1

# A rate that dumpcap keeps up with on two cores, so that the capture is whole.
ip netns exec "$NS" timeout 600 dumpcap -q -B 256 -i lo -f "tcp port 443" -w "$WORK/cap.pcapng" 2>"$WORK/dumpcap.log" &
DUMP=$!
for _ in $(seq 50); do [ -s "$WORK/cap.pcapng" ] && break; sleep 0.2; done
sleep 2
ip netns exec "$NS" env SSLKEYLOGFILE="$WORK/keys" timeout 600 \
	curl -sS -k --http1.1 --tlsv1.3 --tls13-ciphers TLS_AES_128_GCM_SHA256 --limit-rate 25M \
	--resolve "$HOST:443:127.0.0.2" -o "$WORK/dl/#1" "https://$HOST/pkg/part[0000-$LAST]"
rm -rf "$WORK/dl"
sleep 1
kill -INT "$DUMP" 2>/dev/null || true
wait "$DUMP" 2>/dev/null || true
CAP=$WORK/cap.pcapng
[ "$(stat -c %s "$CAP" 2>/dev/null || echo 0)" -gt 100000 ] || die "the capture is empty: $(cat "$WORK/dumpcap.log")"
echo "capture: $(stat -c %s "$CAP") bytes, $(capinfos -c -M "$CAP" | awk '/Number of packets/ {print $NF}') packets ($(grep -o 'Packets dropped[^.]*' "$WORK/dumpcap.log" || echo 'dumpcap reported no drop'))"

measure() { # name, command...
	local name=$1
	shift
	sync
	/usr/bin/time -f "%e %U %S %M" -o "$WORK/$name.time" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" || true
	read -r wall user sys rss <"$WORK/$name.time"
	echo "$name: wall ${wall} s, CPU $(echo "$user + $sys" | bc) s, peak ${rss} KiB"
	eval "${name}_wall=$wall; ${name}_cpu=$(echo "$user + $sys" | bc); ${name}_rss=$rss"
}
mkdir -p "$WORK/ours" "$WORK/theirs"
measure whohosts "$BIN" analyze "$CAP" --keylog "$WORK/keys" --extract "$WORK/ours" --json "$WORK/report.json" -q
measure tshark tshark -r "$CAP" -o "tls.keylog_file:$WORK/keys" --export-objects "http,$WORK/theirs" -q
ours=$(cd "$WORK/ours" && find . -type f -exec sha256sum {} + | awk '{print $1}' | sort | tr '\n' ' ')
theirs=$(cd "$WORK/theirs" && find . -type f -exec sha256sum {} + | awk '{print $1}' | sort | tr '\n' ' ')
served=$(cd "$WORK/www/pkg" && find . -type f -exec sha256sum {} + | awk '{print $1}' | sort | tr '\n' ' ')
echo "files served: $(ls "$WORK/www/pkg" | wc -l), extracted by whohosts: $(ls "$WORK/ours" | wc -l), exported by tshark: $(ls "$WORK/theirs" | wc -l)"
[ "$ours" = "$served" ] && echo "whohosts wrote the served bytes: yes" || echo "whohosts wrote the served bytes: NO"
missing=0
for h in $theirs; do case " $ours " in *" $h "*) ;; *) missing=$((missing + 1)) ;; esac; done
echo "files tshark exported that whohosts did not write byte for byte: $missing"
echo "ratios (tshark / whohosts): wall $(echo "scale=1; $tshark_wall / $whohosts_wall" | bc)x, CPU $(echo "scale=1; $tshark_cpu / $whohosts_cpu" | bc)x, peak memory $(echo "scale=1; $tshark_rss / $whohosts_rss" | bc)x"
