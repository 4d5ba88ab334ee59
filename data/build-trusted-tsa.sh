#!/usr/bin/env bash
# Builds data/trusted-tsa.pem, the TSA trust anchors bundled with whohosts, from the
# Debian package ca-certificates (Mozilla's root store). These roots issue the
# time-stamping CAs of the public TSAs listed beside each; a token is trusted only when
# its signer also carries the timeStamping key purpose (RFC 3161 §2.3) and chains to one
# of them. Prints each file with its SHA-256 for data/README.md.
set -euo pipefail
cd "$(dirname "$0")"
SRC=/usr/share/ca-certificates/mozilla
ROOTS=(
  DigiCert_Trusted_Root_G4.crt            # DigiCert Timestamp (G4 RSA4096 SHA256 TimeStamping CA)
  DigiCert_Assured_ID_Root_CA.crt         # DigiCert Timestamp, older chain
  USERTrust_RSA_Certification_Authority.crt  # Sectigo Public Time Stamping
  GlobalSign_Root_CA_-_R3.crt             # GlobalSign Timestamping
  GlobalSign_Root_R46.crt                 # GlobalSign Timestamping, newer chain
  Entrust_Root_Certification_Authority_-_G2.crt  # Entrust Time Stamping
)
{
  echo "# TSA trust anchors bundled with whohosts; built by data/build-trusted-tsa.sh"
  echo "# from Debian ca-certificates $(dpkg-query -W -f='${Version}' ca-certificates) (Mozilla root store)."
  for r in "${ROOTS[@]}"; do
    echo "# $r sha256 $(sha256sum "$SRC/$r" | cut -d' ' -f1)"
    cat "$SRC/$r"
  done
} > trusted-tsa.pem.tmp
mv trusted-tsa.pem.tmp trusted-tsa.pem
grep '^#' trusted-tsa.pem
