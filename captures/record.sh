#!/usr/bin/env bash
# Records the capture fixtures of captures/ from real clients talking to real
# servers, then rewrites the loopback addresses to public provider addresses.
#
# Everything runs inside a private network namespace (its own loopback, MTU
# 1500, segmentation offloads off), so nothing touches the host's network and
# TCP segments look like those of an Ethernet path. Every server and client
# runs under `timeout`; every process started here is stopped by the EXIT trap.
#
# Needs root (ip netns, ip addr, tcpdump). See captures/README.md, section
# "Regenerating", for the packages it needs.
#
# Usage: captures/record.sh            (writes into the directory of this script)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
TOOLS=$HERE/tools
NS=whohosts-rec
LIFE=60 # upper bound in seconds for any server

die() {
	echo "record.sh: $*" >&2
	exit 1
}

[ "$(id -u)" = 0 ] || die "needs root (ip netns, tcpdump)"
for t in ip ethtool tcpdump tcprewrite editcap mergecap capinfos tshark dig dnsmasq \
	curl openssl python3 ping timeout gzip zstd chromium; do
	command -v "$t" >/dev/null || die "missing tool: $t"
done
python3 -c 'import aioquic' 2>/dev/null || die "missing Python package aioquic (pip install aioquic)"

WORK=$(mktemp -d /tmp/whohosts-rec.XXXXXX)
PIDS=()

cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${PIDS[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	ip netns del "$NS" 2>/dev/null || true
	if [ -n "${KEEP_WORK:-}" ]; then echo "work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

nsx() { ip netns exec "$NS" "$@"; }

# Start a server in the namespace, bounded by $LIFE seconds. `ip netns exec`
# execs its command, so $! is the pid of `timeout`, which relays signals.
server() {
	ip netns exec "$NS" timeout "$LIFE" "$@" </dev/null >>"$WORK/servers.log" 2>&1 &
	PIDS+=($!)
}

# Run a client in the namespace, bounded by 15 seconds.
client() {
	nsx timeout 15 "$@"
}

# ---------------------------------------------------------------------------
# Address plan. Loopback address in the namespace -> public address written
# into the capture. Client and resolver get documentation addresses (RFC 5737,
# RFC 3849); servers get addresses from the provider feeds (README.md lists
# the feed line of each).
C4=127.0.0.100 C6=fd00:77::100 # client           198.51.100.7 / 2001:db8:77::7
R4=127.0.0.53 R6=fd00:77::53   # resolver         192.0.2.53 / 2001:db8:77::53
ALI4=127.0.0.2 ALI6=fd00:77::2 # Alibaba Cloud    47.236.91.18 / 240b:4001:112:4d00::5
TC4=127.0.0.3 TC6=fd00:77::3   # Tencent Cloud    43.136.75.21 / 2402:4e00:1013:e500::21
AWS4=127.0.0.4 AWS6=fd00:77::4 # AWS eu-central-1 3.121.45.67 / 2a05:d014:c1a:7e00::45
CF4=127.0.0.5 CF6=fd00:77::5   # Cloudflare       104.21.48.7 / 2606:4700:3030::6815:3007
HZ4=127.0.0.6                  # Hetzner          116.202.118.33
GC4=127.0.0.7                  # Google Cloud     34.159.24.89 (europe-west3)

PUB_C4=198.51.100.7 PUB_C6=2001:db8:77::7
PUB_ALI4=47.236.91.18 PUB_ALI6=240b:4001:112:4d00::5
PUB_TC4=43.136.75.21 PUB_TC6=2402:4e00:1013:e500::21
PUB_AWS4=3.121.45.67 PUB_AWS6=2a05:d014:c1a:7e00::45
PUB_CF4=104.21.48.7 PUB_CF6=2606:4700:3030::6815:3007
PUB_HZ4=116.202.118.33
PUB_GC4=34.159.24.89

PNAT="127.0.0.100/32:$PUB_C4/32,127.0.0.1/32:$PUB_C4/32,127.0.0.53/32:192.0.2.53/32"
PNAT+=",127.0.0.2/32:$PUB_ALI4/32,127.0.0.3/32:$PUB_TC4/32,127.0.0.4/32:$PUB_AWS4/32"
PNAT+=",127.0.0.5/32:$PUB_CF4/32,127.0.0.6/32:$PUB_HZ4/32,127.0.0.7/32:$PUB_GC4/32"
PNAT+=",[fd00:77::100/128]:[$PUB_C6/128],[fd00:77::53/128]:[2001:db8:77::53/128]"
PNAT+=",[fd00:77::2/128]:[$PUB_ALI6/128],[fd00:77::3/128]:[$PUB_TC6/128]"
PNAT+=",[fd00:77::4/128]:[$PUB_AWS6/128],[fd00:77::5/128]:[$PUB_CF6/128]"

# tcprewrite leaves IPv6 packets with a Fragment header alone; pcaptool
# v6frag applies the same IPv6 map to them.
V6MAP=(fd00:77::100=$PUB_C6 fd00:77::53=2001:db8:77::53 fd00:77::2=$PUB_ALI6
	fd00:77::3=$PUB_TC6 fd00:77::4=$PUB_AWS6 fd00:77::5=$PUB_CF6)

D=mtr-pirate.example
UA="MTR-Reloaded-Launcher/1.4.2 (Windows NT 10.0; Win64; x64)"

# ---------------------------------------------------------------------------
# Namespace with its own loopback.
ip netns del "$NS" 2>/dev/null || true
ip netns add "$NS"
nsx ip link set lo mtu 1500 up
# Offloads off so that tcpdump sees wire-sized segments, not 64 KB GSO frames.
nsx ethtool -K lo tso off gso off gro off >/dev/null 2>&1 || true
for a in $C6 $R6 $ALI6 $TC6 $AWS6 $CF6; do
	nsx ip -6 addr add "$a/128" dev lo nodad
done

# ---------------------------------------------------------------------------
# Content: certificates, the game package, the web roots.
cert() { # name SAN...
	local name=$1 san="" h
	shift
	for h in "$@"; do san+="${san:+,}DNS:$h"; done
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
		-subj "/O=MTR Pirate Games/CN=$1" -addext "subjectAltName=$san" \
		-keyout "$WORK/$name.key" -out "$WORK/$name.crt" 2>/dev/null
}
cert api "api.$D"
cert www "www.$D" "$D"
cert shop "shop.$D"
cert assets "assets.$D"

mkdir -p "$WORK/dl/packages"
head -c 20480 /dev/urandom >"$WORK/dl/packages/mtr-reloaded-1.4.2-win64.pak"
printf '{"game":"MT Reloaded","version":"1.4.2","channel":"stable"}\n' >"$WORK/dl/version.json"

# ---------------------------------------------------------------------------
# Servers.
# The resolver answers only from its own records; the answers already carry
# the public addresses that the rewritten traffic shows.
TXT=() # ~3 KB TXT answer for the fragmentation capture
for i in $(seq 1 12); do
	TXT+=("--txt-record=manifest.$D,chunk-$i $(printf '%0240d' 0 | tr 0 "$(printf '%x' $((i % 16)))")")
done
server dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts \
	--bind-interfaces --listen-address=$R4 --listen-address=$R6 --port=53 \
	--user=root --pid-file="$WORK/dnsmasq.pid" --log-facility="$WORK/dnsmasq.log" \
	--local-ttl=300 --edns-packet-max=4096 \
	--host-record=mtr-pkg.oss-ap-southeast-1.aliyuncs.com,$PUB_ALI4,$PUB_ALI6 \
	--cname=dl.$D,mtr-pkg.oss-ap-southeast-1.aliyuncs.com \
	--host-record=mtr-api-1301234567.cos.ap-guangzhou.myqcloud.com,$PUB_TC4,$PUB_TC6 \
	--cname=api.$D,mtr-api-1301234567.cos.ap-guangzhou.myqcloud.com \
	--host-record=ec2-3-121-45-67.eu-central-1.compute.amazonaws.com,$PUB_AWS4,$PUB_AWS6 \
	--cname=game.$D,ec2-3-121-45-67.eu-central-1.compute.amazonaws.com \
	--host-record=www.$D,$PUB_CF4,$PUB_CF6 \
	--host-record=shop.$D,$PUB_HZ4 \
	--host-record=assets.$D,$PUB_GC4 \
	"${TXT[@]}"

server python3 -m http.server --bind $ALI4 --directory "$WORK/dl" 80
server python3 -m http.server --bind $ALI6 --directory "$WORK/dl" 80
server python3 "$TOOLS/game.py" server --host $AWS4 --port 7777 --sessions 1
server python3 "$TOOLS/quic_h3.py" server --host $GC4 --port 443 \
	--cert "$WORK/assets.crt" --key "$WORK/assets.key" --lifetime "$LIFE"
sleep 1

# openssl s_server for one connection; args: addr:port cert [extra options]
tls_server() {
	local accept=$1 name=$2
	shift 2
	server openssl s_server -accept "$accept" -cert "$WORK/$name.crt" -key "$WORK/$name.key" \
		-www -naccept 1 -quiet "$@"
	sleep 0.5
}

# ---------------------------------------------------------------------------
# Recording helpers. Each capture is taken on the namespace's loopback.
CAPS=()
cap_start() { # file-stem iface [tcpdump options...]
	local stem=$1 iface=$2
	shift 2
	ip netns exec "$NS" timeout "$LIFE" tcpdump -i "$iface" -s 0 -B 32768 -U --immediate-mode -Z root -w "$WORK/$stem.lo.pcap" "$@" \
		>/dev/null 2>>"$WORK/tcpdump.log" &
	PIDS+=($!)
	CAPS+=($!)
}
cap_stop() {
	local p
	sleep 0.5
	for p in "${CAPS[@]}"; do
		kill -INT "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	CAPS=()
}

# Rewrite loopback addresses to the public plan, fix checksums, set MACs.
rewrite() { # stem -> $HERE/stem.pcap
	tcprewrite --pnat="$PNAT" --fixcsum -i "$WORK/$1.lo.pcap" -o "$WORK/$1.rw.pcap"
	python3 "$TOOLS/pcaptool.py" v6frag "$WORK/$1.rw.pcap" "$WORK/$1.v6f.pcap" "${V6MAP[@]}"
	python3 "$TOOLS/pcaptool.py" macs "$WORK/$1.v6f.pcap" "$WORK/$1.mac.pcap" $PUB_C4 $PUB_C6
	python3 "$TOOLS/pcaptool.py" fix-icmpv6 "$WORK/$1.mac.pcap" "$HERE/$1.pcap"
}

# Same for a Linux cooked capture: tcprewrite cannot rewrite inside SLL/SLL2,
# so the frames pass through Ethernet and get their cooked header back.
rewrite_cooked() { # stem -> $HERE/stem.pcap
	python3 "$TOOLS/pcaptool.py" to-eth "$WORK/$1.lo.pcap" "$WORK/$1.eth.pcap"
	tcprewrite --pnat="$PNAT" --fixcsum -i "$WORK/$1.eth.pcap" -o "$WORK/$1.rw.pcap"
	python3 "$TOOLS/pcaptool.py" restore "$WORK/$1.lo.pcap" "$WORK/$1.rw.pcap" "$HERE/$1.pcap"
}

FILT4="host $C4 or host 127.0.0.1"
FILT6="host $C6"
DIG=(dig +tries=1 +time=3)
dig_() { client dig +tries=1 +time=3 "$@" >>"$WORK/dig.log"; }

# ---------------------------------------------------------------------------
# 1. demo: the game launcher, recorded at once as Ethernet (-i lo), Linux
#    cooked v1 (-i any -y LINUX_SLL) and v2 (-i any).
tls_server "$TC4:443" api
tls_server "$CF4:443" www
cap_start demo lo "host $C4"
cap_start demo-sll any -y LINUX_SLL "host $C4"
cap_start demo-sll2 any "host $C4"
sleep 1
dig_ @$R4 -b $C4 "dl.$D" A
client curl -sS -A "$UA" --interface $C4 --resolve "dl.$D:80:$ALI4" \
	-o "$WORK/got.pak" "http://dl.$D/packages/mtr-reloaded-1.4.2-win64.pak"
cmp -s "$WORK/got.pak" "$WORK/dl/packages/mtr-reloaded-1.4.2-win64.pak" || die "download differs"
dig_ @$R4 -b $C4 "api.$D" A
client curl -sS -k --http1.1 -A "$UA" --interface $C4 --resolve "api.$D:443:$TC4" \
	-o /dev/null "https://api.$D/v1/session"
dig_ @$R4 -b $C4 "game.$D" A
client python3 "$TOOLS/game.py" client --host $AWS4 --port 7777 --bind $C4
dig_ @$R4 -b $C4 "www.$D" A
client curl -sS -k --http1.1 -A "$UA" --interface $C4 --resolve "www.$D:443:$CF4" \
	-o /dev/null "https://www.$D/"
cap_stop
rewrite demo
rewrite_cooked demo-sll
rewrite_cooked demo-sll2

# 2. DNS over UDP and TCP, IPv4.
cap_start dns lo "$FILT4"
sleep 1
for n in dl api game www; do
	dig_ @$R4 -b $C4 "$n.$D" A
done
dig_ +tcp @$R4 -b $C4 "dl.$D" A
dig_ +tcp @$R4 -b $C4 "api.$D" AAAA
cap_stop
rewrite dns

# 3. IPv6: DNS over UDP and TCP, HTTP to Alibaba, HTTPS to Tencent and Cloudflare.
tls_server "[$TC6]:443" api
tls_server "[$CF6]:443" www
cap_start ipv6 lo "$FILT6"
sleep 1
dig_ @$R6 -b $C6 "dl.$D" AAAA
client curl -sS -A "$UA" --interface $C6 --resolve "dl.$D:80:[$ALI6]" -o /dev/null "http://dl.$D/version.json"
dig_ +tcp @$R6 -b $C6 "api.$D" AAAA
client curl -sS -k --http1.1 -A "$UA" --interface $C6 --resolve "api.$D:443:[$TC6]" \
	-o /dev/null "https://api.$D/v1/session"
dig_ @$R6 -b $C6 "www.$D" AAAA
client curl -sS -k --http1.1 -A "$UA" --interface $C6 --resolve "www.$D:443:[$CF6]" \
	-o /dev/null "https://www.$D/"
cap_stop
rewrite ipv6

# 4. openssl s_client, TLS 1.2 (certificate in clear) and TLS 1.3.
for v in 12 13; do
	if [ $v = 12 ]; then opt=-no_tls1_3; else opt=-tls1_3; fi
	tls_server "$TC4:443" api $opt
	cap_start tls$v lo "$FILT4"
	sleep 1
	printf 'GET /v1/status HTTP/1.0\r\nHost: api.%s\r\n\r\n' "$D" |
		client openssl s_client -quiet -ign_eof -connect "$TC4:443" -bind "$C4:0" \
			-servername "api.$D" >/dev/null 2>&1 || true
	cap_stop
	rewrite tls$v
done

# 5. QUIC v1 / HTTP/3 with aioquic to Google Cloud europe-west3.
cap_start quic lo "$FILT4"
sleep 1
dig_ @$R4 -b $C4 "assets.$D" A
client python3 "$TOOLS/quic_h3.py" client --host $GC4 --port 443 --bind $C4 \
	--sni "assets.$D" --path /index.txt
cap_stop
rewrite quic

# 6. Chromium: a post-quantum (X25519MLKEM768) ClientHello larger than one
#    1500-byte segment, to Hetzner.
server python3 "$TOOLS/https_serve.py" $HZ4 443 "$WORK/shop.crt" "$WORK/shop.key" --lifetime 50
sleep 1
cap_start chrome-pq lo "host $HZ4 and tcp port 443"
sleep 1
CHROME_DIR=$(mktemp -d "$WORK/chrome.XXXXXX")
nsx timeout 40 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
	--disable-background-networking --disable-component-update --disable-sync \
	--disable-features=OptimizationHints,MediaRouter --ignore-certificate-errors \
	--user-data-dir="$CHROME_DIR" --host-resolver-rules="MAP shop.$D $HZ4, MAP * ~NOTFOUND" \
	--dump-dom "https://shop.$D/" >/dev/null 2>>"$WORK/chromium.log" || true
cap_stop
rewrite chrome-pq

# 7. IP fragmentation: a ~3 KB DNS TXT answer over UDP, fragmented by the
#    kernel at the 1500-byte MTU, over IPv4 and IPv6.
cap_start frag lo "$FILT4 or $FILT6"
sleep 1
dig_ +bufsize=4096 @$R4 -b $C4 "manifest.$D" TXT
dig_ +bufsize=4096 @$R6 -b $C6 "manifest.$D" TXT
cap_stop
rewrite frag

# 8. ICMP echo to the game server, IPv4 and IPv6.
cap_start icmp lo "icmp or icmp6"
sleep 1
client ping -c 3 -i 0.2 -I $C4 $AWS4 >/dev/null
client ping -6 -c 3 -i 0.2 -I $C6 $AWS6 >/dev/null
cap_stop
rewrite icmp

# ---------------------------------------------------------------------------
# Format and link-type variants of the demo (same packets, other containers).
cd "$HERE"
PT="python3 $TOOLS/pcaptool.py"
editcap -F pcapng demo.pcap demo.pcapng
editcap -F nsecpcap demo.pcap demo-nsec.pcap
$PT bigendian demo.pcap demo-be.pcap
$PT relink demo.pcap demo-raw.pcap raw
$PT relink demo.pcap demo-null.pcap null
$PT relink demo.pcap demo-loop.pcap loop
$PT relink demo.pcap demo-vlan.pcap vlan
$PT relink demo.pcap demo-qinq.pcap qinq
# The demo is IPv4 only; the IPv6 capture exercises the IPv6 family values.
$PT relink ipv6.pcap ipv6-raw.pcap raw
$PT relink ipv6.pcap ipv6-null.pcap null
$PT relink ipv6.pcap ipv6-loop.pcap loop
gzip -9 -n -c demo.pcap >demo.pcap.gz
zstd -q -f -19 demo.pcap -o demo.pcap.zst
# Two sections: two pcapng files back to back (each begins with its own SHB).
editcap -F pcapng dns.pcap "$WORK/dns.pcapng"
editcap -F pcapng ipv6.pcap "$WORK/ipv6.pcapng"
cat "$WORK/dns.pcapng" "$WORK/ipv6.pcapng" >twosections.pcapng
# Two interfaces with different link types in one section.
mergecap -F pcapng -w twoif.pcapng ipv6.pcap demo-sll.pcap

echo "record.sh: done"
