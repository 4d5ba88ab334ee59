#!/usr/bin/env bash
# Benchmark `whohosts analyze` against tshark, sha256sum and openssl on deterministic
# synthetic captures. See benches/README.md for what each figure means.
#
#   benches/run.sh                         # 1 GiB, every tool, one run each
#   RUNS=3 benches/run.sh                  # median of three runs
#   SIZES="1G 2G 4G 8G" TOOLS="whohosts sha256sum" benches/run.sh   # scaling table
#
# Environment:
#   SIZES   capture sizes, gencap syntax (default "1G")
#   SEED    generator seed (default 1)
#   FLOWS   TCP flows per capture, whatever its size (default: gencap's, ~65 000 per GiB);
#           fixing it separates growth with bytes from growth with conversations
#   RUNS    measured runs per command; the median wall time is reported (default 1)
#   TOOLS   subset of: whohosts whohosts-nohash tshark-conv tshark-sni sha256sum openssl
#   OUT     work directory (default bench-out/ at the crate root); nothing outside it is
#           ever deleted
#   COLD=1  drop the page cache before every measured run (needs root; else warm cache)
#   CLEAN=1 delete the generated captures at the end (default: keep them for reuse)
#   CHECK=0 skip the untimed check that the analyze report carries the file's SHA-256
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${OUT:-$ROOT/bench-out}
SIZES=${SIZES:-1G}
SEED=${SEED:-1}
FLOWS=${FLOWS:-}
RUNS=${RUNS:-1}
TOOLS=${TOOLS:-whohosts whohosts-nohash tshark-conv tshark-sni sha256sum openssl}
COLD=${COLD:-0}
CLEAN=${CLEAN:-0}
CHECK=${CHECK:-1}

die() {
    echo "run.sh: $*" >&2
    exit 2
}

[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer, got '$RUNS'"
[[ $SEED =~ ^[0-9]+$ ]] || die "SEED must be a non-negative integer, got '$SEED'"
[[ -z $FLOWS || $FLOWS =~ ^[1-9][0-9]*$ ]] || die "FLOWS must be a positive integer, got '$FLOWS'"
for size in $SIZES; do
    [[ $size =~ ^[0-9]+[A-Za-z]*$ ]] || die "bad size '$size' in SIZES (e.g. 512M, 1G, 1GiB)"
done
for t in $TOOLS; do
    case $t in
    whohosts | whohosts-nohash | tshark-conv | tshark-sni | sha256sum | openssl) ;;
    *) die "unknown tool '$t' in TOOLS" ;;
    esac
done

for tool in cargo tshark sha256sum openssl git awk; do
    command -v "$tool" >/dev/null || die "$tool not found"
done
# GNU time (Debian package `time`): wall seconds and peak resident set size.
TIME=/usr/bin/time
"$TIME" -f '%e %M' -o /dev/null true 2>/dev/null ||
    die "GNU time missing at $TIME (apt-get install time)"

# Every command's output is thrown away into /dev/null; if a program ever replaced it
# with a regular file, the benchmark would fill the disk.
null_is_device() {
    [[ -c /dev/null ]] || die "/dev/null is not a character device any more; restore it (mknod -m 666 /dev/null c 1 3)"
}
null_is_device

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
case $OUT in
/ | "$HOME" | "$ROOT") die "refusing work directory $OUT" ;;
esac
STAMP=$(date -u +%Y-%m-%dT%H%M%SZ)
REPORT=$OUT/results-$STAMP.md
LOGS=$OUT/logs-$STAMP
mkdir -p "$LOGS"

# Standard output goes to the terminal and into the report (renamed into place at the
# end); progress and notes go to standard error only.
exec 4>&1
exec > >(tee "$REPORT.partial")
TEE_PID=$!

echo "# whohosts benchmark, $STAMP"
echo
echo '```'
echo "whohosts  $(git -C "$ROOT" describe --always --dirty --tags 2>/dev/null || echo unknown)"
echo "tshark    $(tshark --version 2>/dev/null | head -n1)"
echo "openssl   $(openssl version)"
echo "sha256sum $(sha256sum --version | head -n1)"
echo "rustc     $(rustc --version)"
echo "kernel    $(uname -sr)"
echo "cpu       $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(nproc) cores"
echo "memory    $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
echo "load      $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) at start"
echo "sizes     $SIZES, seed $SEED, flows ${FLOWS:-gencap default}, runs $RUNS (median wall and CPU time, highest peak RSS)"
echo '```'
echo

echo "Building whohosts and gencap (release)..." >&2
(cd "$ROOT" && cargo build --release --quiet --bin whohosts --example gencap) ||
    die "release build failed"
WH=$ROOT/target/release/whohosts
GENCAP=$ROOT/target/release/examples/gencap
GEN_HASH=$(sha256sum "$ROOT/examples/gencap.rs" | cut -c1-12)
GEN_ARGS=(--seed "$SEED")
CAP_TAG=s$SEED
if [[ -n $FLOWS ]]; then
    GEN_ARGS+=(--flows "$FLOWS")
    CAP_TAG+=-f$FLOWS
fi

CORES=$(nproc)

HAS_NOHASH=0
if "$WH" analyze --help 2>/dev/null | grep -q -- '--no-hash'; then
    HAS_NOHASH=1
fi

# Page cache: either dropped before every run (COLD=1, needs root outside a sandbox) or
# warmed once per capture so that every tool reads from memory alike.
CACHE=warm
if [[ $COLD == 1 ]]; then
    if sync && { echo 3 >/proc/sys/vm/drop_caches; } 2>/dev/null; then
        CACHE=cold
    else
        echo "note: cannot drop the page cache here; measuring with a warm cache" >&2
    fi
fi

drop_cache() {
    if [[ $CACHE == cold ]]; then
        sync
        echo 3 >/proc/sys/vm/drop_caches
    fi
}

median() { # numbers on stdin -> median
    sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "nan"; exit }
        if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

declare -A WALL CPU RSS STATUS LABEL SIZE_BYTES
CHECKS=()
GEN_NOTES=()
ORDER=(whohosts whohosts-nohash tshark-conv tshark-sni sha256sum openssl)
LABEL[whohosts]='whohosts analyze FILE --json - >/dev/null'
LABEL[whohosts-nohash]='whohosts analyze --no-hash FILE --json - >/dev/null'
LABEL[tshark-conv]='tshark -q -z conv,ip -r FILE'
LABEL[tshark-sni]='tshark -r FILE -T fields -e tls.handshake.extensions_server_name'
LABEL[sha256sum]='sha256sum FILE'
LABEL[openssl]='openssl dgst -sha256 FILE'

wanted() { [[ " $TOOLS " == *" $1 "* ]]; }

# measure SIZE ID OK_CODES CMD... : runs CMD $RUNS times under GNU time.
measure() {
    local size=$1 id=$2 ok=$3
    shift 3
    local walls=() cpus=() rss=() r rc w m u s
    local tf=$LOGS/$size-$id.time log=$LOGS/$size-$id.stderr
    for ((r = 1; r <= RUNS; r++)); do
        drop_cache
        echo "  $id, run $r/$RUNS (load $(cut -d' ' -f1 /proc/loadavg))..." >&2
        rc=0
        "$TIME" -f '%e %M %U %S' -o "$tf" "$@" >/dev/null 2>>"$log" || rc=$?
        if [[ " $ok " != *" $rc "* ]]; then
            STATUS[$size:$id]="exit $rc"
            echo "  $id failed with exit code $rc, see $log" >&2
            return 0
        fi
        read -r w m u s < <(tail -n1 "$tf")
        walls+=("$w")
        rss+=("$m")
        cpus+=("$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')")
    done
    WALL[$size:$id]=$(printf '%s\n' "${walls[@]}" | median)
    CPU[$size:$id]=$(printf '%s\n' "${cpus[@]}" | median)
    RSS[$size:$id]=$(printf '%s\n' "${rss[@]}" | sort -n | tail -n1)
    STATUS[$size:$id]=ok
}

fmt_ratio() { # a b [decimals] -> a/b with one decimal (or as many as given), or "-"
    awk -v a="$1" -v b="$2" -v d="${3:-1}" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "-"; else printf "%." d "f", a / b }'
}

for size in $SIZES; do
    cap=$OUT/cap-$size-$CAP_TAG-$GEN_HASH.pcap
    if [[ -f $cap ]]; then
        echo "Reusing $cap" >&2
    else
        # Captures of this size and seed from an older generator are stale.
        find "$OUT" -maxdepth 1 -type f -name "cap-$size-$CAP_TAG-????????????.pcap" -delete
        echo "Generating $cap..." >&2
        "$TIME" -f '%e %U %S %M' -o "$LOGS/$size-gencap.time" \
            "$GENCAP" --size "$size" "${GEN_ARGS[@]}" --out "$cap" 2>"$LOGS/$size-gencap.log" ||
            die "gencap failed, see $LOGS/$size-gencap.log"
        read -r gw gu gs gm <"$LOGS/$size-gencap.time"
        bytes=$(stat -c %s "$cap")
        GEN_NOTES+=("$size: $(awk -v b="$bytes" -v w="$gw" -v u="$gu" -v s="$gs" -v m="$gm" 'BEGIN {
            printf "%.2f s wall (%.0f MB/s), %.2f s user + %.2f s sys, peak %.1f MB", w, b / 1e6 / w, u, s, m * 1024 / 1e6 }')")
        cat "$LOGS/$size-gencap.log" >&2
    fi
    bytes=$(stat -c %s "$cap")
    SIZE_BYTES[$size]=$bytes
    avail_kib=$(awk '/MemAvailable/ {print $2}' /proc/meminfo)
    if [[ $CACHE == warm ]]; then
        if ((bytes / 1024 > avail_kib)); then
            echo "note: $cap is larger than available memory; reads come partly from disk" >&2
        fi
        cat "$cap" >/dev/null
    fi

    if [[ $CHECK == 1 ]] && wanted whohosts; then
        # Untimed: the report must carry the file's SHA-256 as sha256sum computes it.
        want=$(sha256sum "$cap" | cut -d' ' -f1)
        rc=0
        "$WH" analyze "$cap" --json "$LOGS/$size-report.json" \
            >/dev/null 2>"$LOGS/$size-check.stderr" || rc=$?
        if [[ $rc -gt 1 ]]; then
            CHECKS+=("$size: whohosts analyze failed (exit $rc): $(tail -n1 "$LOGS/$size-check.stderr")")
        elif grep -qi "$want" "$LOGS/$size-report.json"; then
            CHECKS+=("$size: the analyze report carries SHA-256 $want, as sha256sum")
        else
            CHECKS+=("$size: SHA-256 $want NOT found in the analyze report")
        fi
        rm -f -- "$LOGS/$size-report.json"
    fi

    echo "Measuring $size ($bytes bytes, $CACHE cache)..." >&2
    # The JSON report goes to standard output, thrown away. Not `--json /dev/null`: early
    # builds wrote every output by renaming a temporary file over it, which replaced the
    # device with a regular file; standard output is safe with every build.
    wanted whohosts && measure "$size" whohosts "0 1" "$WH" analyze "$cap" --json -
    if wanted whohosts-nohash; then
        if [[ $HAS_NOHASH == 1 ]]; then
            measure "$size" whohosts-nohash "0 1" "$WH" analyze --no-hash "$cap" --json -
        else
            STATUS[$size:whohosts-nohash]="no --no-hash flag"
        fi
    fi
    wanted tshark-conv && measure "$size" tshark-conv 0 tshark -q -z conv,ip -r "$cap"
    wanted tshark-sni && measure "$size" tshark-sni 0 \
        tshark -r "$cap" -T fields -e tls.handshake.extensions_server_name
    wanted sha256sum && measure "$size" sha256sum 0 sha256sum "$cap"
    wanted openssl && measure "$size" openssl 0 openssl dgst -sha256 "$cap"
    null_is_device
done

for size in $SIZES; do
    bytes=${SIZE_BYTES[$size]}
    wh=${WALL[$size:whohosts]:-}
    echo "## $size ($bytes bytes, seed $SEED, flows ${FLOWS:-default}, generator $GEN_HASH, $CACHE page cache)"
    echo
    echo "| command | wall s | cpu s | peak MB | MB/s | time vs whohosts |"
    echo "|---|---:|---:|---:|---:|---:|"
    for id in "${ORDER[@]}"; do
        wanted "$id" || continue
        st=${STATUS[$size:$id]:-not run}
        if [[ $st != ok ]]; then
            echo "| \`${LABEL[$id]}\` | $st | | | | |"
            continue
        fi
        w=${WALL[$size:$id]}
        m=${RSS[$size:$id]}
        awk -v l="${LABEL[$id]}" -v w="$w" -v c="${CPU[$size:$id]}" -v m="$m" -v b="$bytes" \
            -v r="$(fmt_ratio "$w" "$wh")" 'BEGIN {
            printf "| `%s` | %.2f | %.2f | %.1f | %s | %s |\n", l, w, c, m * 1024 / 1e6,
                (w > 0 ? sprintf("%.0f", b / 1e6 / w) : "-"), r }'
    done
    echo
    if [[ -n $wh && -n ${WALL[$size:tshark-conv]:-} ]]; then
        echo "- tshark conv,ip / whohosts: **$(fmt_ratio "${WALL[$size:tshark-conv]}" "$wh")x** wall, $(fmt_ratio "${CPU[$size:tshark-conv]}" "${CPU[$size:whohosts]}")x CPU (target >= 10x)"
    fi
    if [[ -n $wh && -n ${WALL[$size:tshark-sni]:-} ]]; then
        echo "- tshark SNI / whohosts: **$(fmt_ratio "${WALL[$size:tshark-sni]}" "$wh")x** wall, $(fmt_ratio "${CPU[$size:tshark-sni]}" "${CPU[$size:whohosts]}")x CPU (target >= 25x)"
    fi
    if [[ -n $wh && -n ${WALL[$size:openssl]:-} ]]; then
        # CPU time spread over every core is the least wall time any schedule of the
        # same work could take: when it is above the target, only less work meets it.
        floor=$(awk -v c="${CPU[$size:whohosts]}" -v n="$CORES" 'BEGIN { printf "%.2f", c / n }')
        echo "- whohosts / openssl dgst -sha256: **$(fmt_ratio "$wh" "${WALL[$size:openssl]}" 2)x** wall (target <= 1.1x); whohosts' CPU over $CORES cores, the least wall time its work could take: $floor s ($(fmt_ratio "$floor" "${WALL[$size:openssl]}" 2)x openssl)"
    fi
    if [[ -n $wh ]]; then
        echo "- whohosts peak memory: **$(awk -v m="${RSS[$size:whohosts]}" 'BEGIN { printf "%.1f", m * 1024 / 1e6 }') MB** (target <= 64 MB)"
    fi
    echo
done

if [[ $(wc -w <<<"$SIZES") -gt 1 ]] && wanted whohosts; then
    echo "## Scaling of whohosts analyze"
    echo
    echo "Time should grow in proportion to size (s per GiB flat) and peak memory should not"
    echo "grow with size when the flow count is fixed (FLOWS)."
    echo
    echo "| size | bytes | wall s | s per GiB | MB/s | peak MB | no-hash wall s | no-hash MB/s | no-hash peak MB |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    for size in $SIZES; do
        [[ ${STATUS[$size:whohosts]:-} == ok ]] || {
            echo "| $size | ${SIZE_BYTES[$size]} | ${STATUS[$size:whohosts]:-not run} | | | | | | |"
            continue
        }
        nw=-
        nm=-
        if [[ ${STATUS[$size:whohosts-nohash]:-} == ok ]]; then
            nw=${WALL[$size:whohosts-nohash]}
            nm=${RSS[$size:whohosts-nohash]}
        fi
        awk -v s="$size" -v b="${SIZE_BYTES[$size]}" -v w="${WALL[$size:whohosts]}" \
            -v m="${RSS[$size:whohosts]}" -v nw="$nw" -v nm="$nm" 'BEGIN {
            nws = (nw == "-") ? "-" : sprintf("%.2f", nw)
            nmb = (nw == "-" || nw + 0 == 0) ? "-" : sprintf("%.0f", b / 1e6 / nw)
            nms = (nm == "-") ? "-" : sprintf("%.1f", nm * 1024 / 1e6)
            printf "| %s | %.0f | %.2f | %.2f | %.0f | %.1f | %s | %s | %s |\n", s, b, w,
                w / (b / 1073741824), b / 1e6 / w, m * 1024 / 1e6, nws, nmb, nms }'
    done
    echo
fi

if ((${#GEN_NOTES[@]})); then
    echo "Capture generation (gencap, release):"
    printf -- '- %s\n' "${GEN_NOTES[@]}"
    echo
fi
if ((${#CHECKS[@]})); then
    echo "Checks:"
    printf -- '- %s\n' "${CHECKS[@]}"
    echo
fi
echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min); the machine is shared, so figures are noisy."
echo "Logs: ${LOGS#"$ROOT"/}"

exec 1>&4 4>&-
wait "$TEE_PID" 2>/dev/null || true
mv -f -- "$REPORT.partial" "$REPORT"
echo "Report: $REPORT" >&2

if [[ $CLEAN == 1 ]]; then
    for size in $SIZES; do
        rm -f -- "$OUT/cap-$size-$CAP_TAG-$GEN_HASH.pcap"
    done
fi
