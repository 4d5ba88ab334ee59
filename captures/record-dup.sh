#!/usr/bin/env bash
# Captures whose frames repeat or whose time goes backwards, made from demo.pcap and
# quic.pcap with Wireshark's own tools (what a capture merged from two taps, or a
# clock stepped back during a capture, looks like):
#   demo-dup.pcap        demo.pcap twice, one after the other (every frame twice)
#   demo-backwards.pcap  demo.pcap, then demo.pcap again 5 s earlier (time steps back)
#   quic-interleaved.pcap quic.pcap merged by time with a copy 0.3 ms later
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mergecap -F pcap -a -w demo-dup.pcap demo.pcap demo.pcap
editcap -F pcap -t -5 demo.pcap "$tmp/earlier.pcap"
mergecap -F pcap -a -w demo-backwards.pcap demo.pcap "$tmp/earlier.pcap"
editcap -F pcap -t 0.0003 quic.pcap "$tmp/later.pcap"
mergecap -F pcap -w quic-interleaved.pcap quic.pcap "$tmp/later.pcap"
