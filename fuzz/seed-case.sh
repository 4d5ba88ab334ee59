#!/bin/sh
# Seeds the case-file targets (custody, manifest, case_info, tsp_request, tsp_reply)
# from a real sealed case: `whohosts case new`, `case add` of three recorded captures,
# `case seal`, a reply from `openssl ts -reply` (a throw-away CA and TSA) imported with
# `case timestamp import`, then a second capture and a second seal with SHA-512 and MD5.
# Needs the release binary (`cargo build --release` in the parent directory) and openssl.
#
#     cd fuzz && sh seed-case.sh
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
W=${WHOHOSTS:-$HERE/../target/release/whohosts}
CAPTURES=$HERE/../captures
[ -x "$W" ] || { echo "seed-case.sh: $W missing; run cargo build --release first" >&2; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

mkdir "$T/tsa"
cd "$T/tsa"
printf '[tsa_ext]\nextendedKeyUsage = critical,timeStamping\nbasicConstraints = CA:false\nkeyUsage = critical,digitalSignature\n' >ext.cnf
printf '[tsa]\ndefault_tsa = tsa_config1\n[tsa_config1]\nserial = %s/serial\ncrypto_device = builtin\nsigner_digest = sha256\ndefault_policy = 1.2.3.4.1\ndigests = sha256\naccuracy = secs:1\nordering = yes\ntsa_name = yes\ness_cert_id_chain = no\ness_cert_id_alg = sha256\n' "$T/tsa" >openssl.cnf
echo 01 >serial
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj "/CN=Seed Root CA" \
    -addext basicConstraints=critical,CA:true -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout tsa.key -out tsa.csr -subj "/CN=Seed TSA" 2>/dev/null
openssl x509 -req -in tsa.csr -CA ca.pem -CAkey ca.key -set_serial 2 -out tsa.pem -days 2 \
    -extfile ext.cnf -extensions tsa_ext 2>/dev/null

cd "$T"
"$W" case new case --id BJ-2026-001 --title "Pirate <MT> & co" --rights-holder Locojoy \
    --operator "Li Lei" --notary "Beijing Notary Office" --notary-cert "(2026) Jing Zheng 0001" \
    --tz +08:00 >/dev/null
"$W" case add case "$CAPTURES/demo.pcapng" "$CAPTURES/demo-sll.pcap" >/dev/null
"$W" case seal case >/dev/null
openssl ts -reply -config tsa/openssl.cnf -queryfile case/timestamps/manifest-v1.tsq \
    -inkey tsa/tsa.key -signer tsa/tsa.pem -out reply.tsr 2>/dev/null
"$W" case timestamp import case reply.tsr >/dev/null
"$W" case add case "$CAPTURES/demo-raw.pcap" >/dev/null
"$W" case seal case --sha512 --md5 >/dev/null

C=$HERE/corpus
mkdir -p "$C/custody" "$C/manifest" "$C/case_info" "$C/tsp_request" "$C/tsp_reply"
cp case/custody.jsonl "$C/custody/"
cp case/manifests/*.json "$C/manifest/"
cp case/case.json "$C/case_info/"
cp case/timestamps/*.tsq "$C/tsp_request/"
cp case/timestamps/*.tsr "$C/tsp_reply/"
echo "seeded custody, manifest, case_info, tsp_request and tsp_reply in $C"
