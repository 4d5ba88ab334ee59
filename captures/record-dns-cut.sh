#!/usr/bin/env bash
# Makes captures/dns-cut.pcap: captures/dns.pcap with every frame cut to 110 bytes
# (`editcap -s 110`), as a capture taken with a small snap length would be: each DNS
# message keeps its question, some answers keep their first record, the rest is cut.
# And captures/frag-cut.pcap: captures/frag.pcap cut to 300 bytes a frame, so that
# the fragments of its DNS answers are cut too (the first IPv4 one after the
# answer's question).
#
# Usage: captures/record-dns-cut.sh   (writes captures/dns-cut.pcap, frag-cut.pcap)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
command -v editcap >/dev/null || {
	echo "record-dns-cut.sh: missing tool: editcap" >&2
	exit 1
}
editcap -F pcap -s 110 "$HERE/dns.pcap" "$HERE/dns-cut.pcap"
echo "wrote $HERE/dns-cut.pcap"
editcap -F pcap -s 300 "$HERE/frag.pcap" "$HERE/frag-cut.pcap"
echo "wrote $HERE/frag-cut.pcap"
