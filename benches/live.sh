#!/usr/bin/env bash
# Live capture under load: replays the generated benchmark capture with tcpreplay over a
# veth pair and compares what `whohosts capture`, `dumpcap` and `tcpdump -w` capture of
# it at the same rates: packets captured, packets missing, drops the tool reports, CPU
# time and peak memory. See benches/README.md.
#
#   benches/live.sh                               # 1 GiB, rates 250 and 500 Mbit/s and top speed
#   RATES="100 top" TOOLS="whohosts dumpcap" benches/live.sh
#
# Environment:
#   SIZE   capture size, gencap syntax (default 1G); made as benches/run.sh makes it
#   SEED   generator seed (default 1)
#   RATES  tcpreplay rates: Mbit/s, or `top` for --topspeed (default "250 500 top")
#   TOOLS  subset of: whohosts whohosts-json dumpcap dumpcap-b16 tcpdump
#   OUT    work directory (default bench-out/); captured files are deleted once counted
#
# Needs root (a network namespace and capture rights), tcpreplay, tshark's dumpcap and
# capinfos, tcpdump, iproute2 and GNU time (Debian: tcpreplay tshark tcpdump iproute2 time).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${OUT:-$ROOT/bench-out}
SIZE=${SIZE:-1G}
SEED=${SEED:-1}
RATES=${RATES:-250 500 top}
TOOLS=${TOOLS:-whohosts whohosts-json dumpcap dumpcap-b16 tcpdump}

die() {
    echo "live.sh: $*" >&2
    exit 2
}

[ "$(id -u)" = 0 ] || die "needs root: a network namespace, and capture rights"
for t in tcpreplay dumpcap capinfos tcpdump ip cargo; do
    command -v "$t" >/dev/null || die "$t not found"
done
TIME=/usr/bin/time
"$TIME" -f '%e' -o /dev/null true 2>/dev/null || die "GNU time missing at $TIME (apt-get install time)"
for r in $RATES; do
    [[ $r == top || $r =~ ^[1-9][0-9]*$ ]] || die "bad rate '$r' (Mbit/s, or top)"
done
for t in $TOOLS; do
    case $t in
    whohosts | whohosts-json | dumpcap | dumpcap-b16 | tcpdump) ;;
    *) die "unknown tool '$t' in TOOLS" ;;
    esac
done

mkdir -p "$OUT"
STAMP=$(date -u +%Y-%m-%dT%H%M%SZ)
LOGS=$OUT/live-logs-$STAMP
WORK=$OUT/live-work
mkdir -p "$LOGS" "$WORK"
RESULTS=$OUT/live-results-$STAMP.md

echo "Building whohosts and gencap (release)..." >&2
(cd "$ROOT" && cargo build --release --quiet --bin whohosts --example gencap) || die "build failed"
WHOHOSTS=$ROOT/target/release/whohosts
GEN_HASH=$(sha256sum "$ROOT/examples/gencap.rs" | cut -c1-12)
CAP=$OUT/cap-$SIZE-s$SEED-$GEN_HASH.pcap
if [ ! -f "$CAP" ]; then
    echo "Generating $CAP..." >&2
    "$ROOT/target/release/examples/gencap" --size "$SIZE" --seed "$SEED" --out "$CAP" 2>"$LOGS/gencap.log" ||
        die "gencap failed, see $LOGS/gencap.log"
fi
cat "$CAP" >/dev/null

# The veth pair: tcpreplay sends on the host side, the tools capture on the peer side,
# in a namespace of its own. Jumbo MTU: some generated frames carry a VLAN tag.
NS=whohosts-bench-$$
A=whb$$a
B=whb$$b
cleanup() {
    ip link del "$A" 2>/dev/null || true
    ip netns del "$NS" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
ip netns add "$NS"
ip link add "$A" type veth peer name "$B"
ip link set "$B" netns "$NS"
sysctl -qw "net.ipv6.conf.$A.disable_ipv6=1"
ip netns exec "$NS" sysctl -qw "net.ipv6.conf.$B.disable_ipv6=1"
ip link set "$A" mtu 9000 up
ip netns exec "$NS" ip link set "$B" mtu 9000 up

# Starts a tool capturing on $B into $WORK; its pid goes to $WORK/pid.
start_tool() {
    local tool=$1 log=$2
    local cmd
    case $tool in
    whohosts) cmd=("$WHOHOSTS" capture -q -i "$B" -w "$WORK/out.pcapng") ;;
    whohosts-json) cmd=("$WHOHOSTS" capture -q -i "$B" -w "$WORK/out.pcapng" --json "$WORK/report.json") ;;
    dumpcap) cmd=(dumpcap -q -i "$B" -w "$WORK/out.pcapng") ;;
    dumpcap-b16) cmd=(dumpcap -q -B 16 -i "$B" -w "$WORK/out.pcapng") ;;
    tcpdump) cmd=(tcpdump -i "$B" -w "$WORK/out.pcap") ;;
    esac
    echo "${cmd[*]}" >"$log.cmd"
    ip netns exec "$NS" "$TIME" -f '%e %U %S %M' -o "$log.time" "${cmd[@]}" >"$log.out" 2>"$log.err" &
    echo $! >"$WORK/pid"
}

# Drops as the tool reports them.
reported_drops() {
    local tool=$1 log=$2
    case $tool in
    whohosts*) awk '/dropped by the kernel/ { gsub(",", ""); k += $(NF-4); i += $NF } END { print k + i }' "$log.err" ;;
    dumpcap*) awk -F'[ /()]+' '/received\/dropped/ { for (n = 1; n <= NF; n++) if ($n ~ /^[0-9]+$/) v[++c] = $n; print v[2]; exit }' "$log.err" ;;
    tcpdump) awk '/dropped by kernel/ { print $1 }' "$log.err" ;;
    esac
}

rows=()
for rate in $RATES; do
    for tool in $TOOLS; do
        log=$LOGS/$rate-$tool
        rm -f "$WORK"/out.* "$WORK"/report.json
        echo "rate $rate, $tool..." >&2
        start_tool "$tool" "$log"
        # Ready when the output file exists (and a moment for the socket).
        for _ in $(seq 1 100); do
            ls "$WORK"/out.* >/dev/null 2>&1 && break
            sleep 0.1
        done
        sleep 1
        if [ "$rate" = top ]; then
            replay=(--topspeed)
        else
            replay=(--mbps="$rate")
        fi
        tcpreplay "${replay[@]}" -i "$A" "$CAP" >"$log.replay" 2>&1 || die "tcpreplay failed, see $log.replay"
        sleep 2
        # The pid is GNU time's; the tool is its child in the same namespace.
        pkill -INT -P "$(cat "$WORK/pid")" || true
        wait "$(cat "$WORK/pid")" || true
        sent=$(awk '/Actual:/ { print $2; exit }' "$log.replay")
        secs=$(awk '/Actual:/ { print $(NF-1); exit }' "$log.replay")
        mbps=$(awk '/Rated:/ { print $4; exit }' "$log.replay")
        captured=$(capinfos -M -c "$WORK"/out.* | awk '/Number of packets:/ { print $NF; exit }')
        drops=$(reported_drops "$tool" "$log")
        read -r wall user sys rss <"$log.time"
        cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
        rows+=("| $rate | $mbps | \`$tool\` | $sent | $captured | $((sent - captured)) | ${drops:-?} | $cpu | $((rss / 1024)) |")
        rm -f "$WORK"/out.* "$WORK"/report.json
    done
done

{
    echo "### whohosts live capture benchmark, $STAMP"
    echo
    echo '```'
    echo "whohosts  $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)"
    echo "dumpcap   $(dumpcap --version 2>/dev/null | head -1)"
    echo "tcpdump   $(tcpdump --version 2>&1 | head -1)"
    echo "libpcap   $(tcpdump --version 2>&1 | sed -n 2p)"
    echo "tcpreplay $(tcpreplay --version 2>&1 | head -1)"
    echo "kernel    $(uname -sr)"
    echo "cpu       $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), $(nproc) cores"
    echo "capture   $(basename "$CAP"): $(capinfos -M -c "$CAP" | awk '/Number of packets:/ { print $NF; exit }') packets, $(stat -c %s "$CAP") bytes"
    echo "load      $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) at the end"
    echo '```'
    echo
    echo "Each tool captures on the peer end of a veth pair while tcpreplay replays the"
    echo "capture on the other end; the tool is stopped with SIGINT 2 s after the replay."
    echo "Missing: packets sent that are not in the tool's file. Drops: what the tool reports"
    echo "(kernel and interface). CPU: user + system seconds of the whole process."
    echo
    echo "| rate (Mbit/s) | achieved (Mbit/s) | tool | sent | captured | missing | drops reported | CPU s | peak MB |"
    echo "|---|---:|---|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${rows[@]}"
} | tee "$RESULTS"
echo "written to $RESULTS; logs in $LOGS" >&2
