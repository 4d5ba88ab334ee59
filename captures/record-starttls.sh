#!/usr/bin/env bash
# Records captures/starttls.pcap and captures/proxy-header.pcap.
#
# starttls.pcap: curl asking real mail and file servers to turn their connection to
# TLS after a plaintext start, on the protocols' own ports:
#   127.0.0.2:25   aiosmtpd (SMTP, STARTTLS)              mx.mtr-pirate.example
#   127.0.0.3:143  dovecot (IMAP, STARTTLS)               imap.mtr-pirate.example
#   127.0.0.3:110  dovecot (POP3, STLS)                   pop.mtr-pirate.example
#   127.0.0.4:21   vsftpd (FTP, AUTH TLS)                 ftp.mtr-pirate.example
#
# proxy-header.pcap: a web server (nginx) behind PROXY protocol headers:
#   curl --haproxy-protocol (version 1) to 127.0.0.5:443 (HTTPS) and :80 (HTTP);
#   curl to haproxy at 127.0.0.6:443, which passes the connection on to nginx at
#   127.0.0.7:443 with a version 2 header (send-proxy-v2). Both legs are captured.
#
# Everything runs in one network namespace on its loopback interface; curl finds
# the servers by --resolve (so that it sends their names as SNI), from 127.0.0.100.
# Every process is bounded by `timeout` and stopped by the EXIT trap, which also
# removes the namespace. Nothing touches the host's network.
#
# Needs root. Usage: captures/record-starttls.sh
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
NS=stls-rec
LIFE=60

die() {
	echo "record-starttls.sh: $*" >&2
	exit 1
}
[ "$(id -u)" = 0 ] || die "needs root (ip netns, dumpcap)"
for t in ip nginx haproxy dovecot vsftpd curl openssl dumpcap timeout; do
	command -v "$t" >/dev/null || die "missing tool: $t"
done
/usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null || die "missing python3-aiosmtpd"

WORK=$(mktemp -d /tmp/whohosts-starttls.XXXXXX)
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

# One certificate for every server (RSA: vsftpd takes no other).
openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=mx.mtr-pirate.example \
	-addext "subjectAltName=DNS:mx.mtr-pirate.example,DNS:imap.mtr-pirate.example,DNS:pop.mtr-pirate.example,DNS:ftp.mtr-pirate.example,DNS:www.mtr-pirate.example" \
	-keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
chmod 644 "$WORK/key.pem"

# SMTP.
in_ns timeout "$LIFE" /usr/bin/python3 -m aiosmtpd -n -l 127.0.0.2:25 -c aiosmtpd.handlers.Sink \
	--tlscert "$WORK/cert.pem" --tlskey "$WORK/key.pem" >/dev/null 2>&1 &
PIDS+=($!)

# IMAP and POP3: user "bob", password "secret", an empty mailbox.
mkdir -p "$WORK/dovecot" "$WORK/mail"
chmod 777 "$WORK/mail"
echo 'bob:{PLAIN}secret' >"$WORK/users"
cat >"$WORK/dovecot.conf" <<EOF
base_dir = $WORK/dovecot
state_dir = $WORK/dovecot
log_path = $WORK/dovecot.log
protocols = imap pop3
listen = 127.0.0.3
ssl = yes
ssl_cert = <$WORK/cert.pem
ssl_key = <$WORK/key.pem
auth_mechanisms = plain
passdb {
  driver = passwd-file
  args = scheme=PLAIN $WORK/users
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$WORK/mail/%u
}
mail_location = maildir:$WORK/mail/%u
EOF
in_ns timeout "$LIFE" dovecot -F -c "$WORK/dovecot.conf" &
PIDS+=($!)

# FTP: anonymous, TLS required for the login (the file is only asked for its size,
# so no data connection is opened).
mkdir -p "$WORK/ftp"
echo "MT Reloaded 1.4.2" >"$WORK/ftp/mtr.zip"
cat >"$WORK/vsftpd.conf" <<EOF
listen=YES
listen_address=127.0.0.4
background=NO
anonymous_enable=YES
no_anon_password=YES
anon_root=$WORK/ftp
local_enable=NO
ssl_enable=YES
allow_anon_ssl=YES
force_anon_logins_ssl=YES
force_anon_data_ssl=YES
require_ssl_reuse=NO
rsa_cert_file=$WORK/cert.pem
rsa_private_key_file=$WORK/key.pem
secure_chroot_dir=/var/run/vsftpd/empty
seccomp_sandbox=NO
xferlog_enable=NO
EOF
in_ns timeout "$LIFE" vsftpd "$WORK/vsftpd.conf" &
PIDS+=($!)

# The web server behind PROXY protocol headers, and haproxy in front of it.
mkdir -p "$WORK/www"
echo "MT Reloaded 1.4.2" >"$WORK/www/index.html"
cat >"$WORK/nginx.conf" <<EOF
daemon off;
master_process off;
pid $WORK/nginx.pid;
error_log $WORK/nginx.log;
events {}
http {
	access_log off;
	server {
		listen 127.0.0.5:80 proxy_protocol;
		listen 127.0.0.5:443 ssl proxy_protocol;
		listen 127.0.0.7:443 ssl proxy_protocol;
		ssl_certificate $WORK/cert.pem;
		ssl_certificate_key $WORK/key.pem;
		root $WORK/www;
	}
}
EOF
in_ns timeout "$LIFE" nginx -c "$WORK/nginx.conf" &
PIDS+=($!)
cat >"$WORK/haproxy.cfg" <<EOF
defaults
	mode tcp
	timeout connect 5s
	timeout client 10s
	timeout server 10s
frontend front
	bind 127.0.0.6:443
	default_backend web
backend web
	server nginx 127.0.0.7:443 send-proxy-v2
EOF
in_ns timeout "$LIFE" haproxy -db -f "$WORK/haproxy.cfg" >/dev/null 2>&1 &
PIDS+=($!)
sleep 2

fetch() { in_ns timeout 10 curl -sS -o /dev/null --interface 127.0.0.100 -k "$@" || true; }

echo "Subject: MT Reloaded" >"$WORK/mail.txt"
in_ns timeout "$LIFE" dumpcap -q -P -i lo -f 'tcp port 25 or tcp port 143 or tcp port 110 or tcp port 21' \
	-w "$WORK/starttls.pcap" 2>/dev/null &
DUMPCAP=$!
PIDS+=($DUMPCAP)
sleep 1
fetch --ssl-reqd --resolve mx.mtr-pirate.example:25:127.0.0.2 smtp://mx.mtr-pirate.example \
	--mail-from seller@mtr-pirate.example --mail-rcpt buyer@mtr-pirate.example -T "$WORK/mail.txt"
fetch --ssl-reqd --resolve imap.mtr-pirate.example:143:127.0.0.3 -u bob:secret \
	imap://imap.mtr-pirate.example/INBOX
fetch --ssl-reqd --resolve pop.mtr-pirate.example:110:127.0.0.3 -u bob:secret \
	pop3://pop.mtr-pirate.example/
fetch --ssl-reqd --resolve ftp.mtr-pirate.example:21:127.0.0.4 -I ftp://ftp.mtr-pirate.example/mtr.zip
sleep 1
kill "$DUMPCAP"
wait "$DUMPCAP" 2>/dev/null || true

in_ns timeout "$LIFE" dumpcap -q -P -i lo -f 'tcp port 443 or tcp port 80' -w "$WORK/proxy.pcap" 2>/dev/null &
DUMPCAP=$!
PIDS+=($DUMPCAP)
sleep 1
fetch --haproxy-protocol --resolve www.mtr-pirate.example:443:127.0.0.5 https://www.mtr-pirate.example/
fetch --haproxy-protocol --resolve www.mtr-pirate.example:80:127.0.0.5 http://www.mtr-pirate.example/
fetch --resolve dl.mtr-pirate.example:443:127.0.0.6 https://dl.mtr-pirate.example/
sleep 1
kill "$DUMPCAP"
wait "$DUMPCAP" 2>/dev/null || true

cp "$WORK/starttls.pcap" "$HERE/starttls.pcap"
cp "$WORK/proxy.pcap" "$HERE/proxy-header.pcap"
chmod 644 "$HERE/starttls.pcap" "$HERE/proxy-header.pcap"
echo "wrote $HERE/starttls.pcap and $HERE/proxy-header.pcap"
