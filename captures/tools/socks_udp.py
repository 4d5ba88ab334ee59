#!/usr/bin/env python3
"""A SOCKS5 UDP ASSOCIATE client (RFC 1928 section 7), for recording fixtures.

Asks the proxy for a UDP relay over a TCP control connection, then sends through
the relay, each datagram with its SOCKS header:
  1. a DNS query for --a-name (A) to the resolver given by address (--resolver),
  2. a DNS query for --aaaa-name (AAAA) to the resolver given by name
     (--resolver-name; the proxy resolves it),
  3. a QUIC v1 handshake with aioquic (SNI --quic-sni) to --quic-target, given by
     name too, which completes when the server answers.
--steps picks some of them (dns: the first two; quic: the third); each run is its
own relay. Every wait is bounded; the script exits 0 once all were answered.
"""
import argparse
import ipaddress
import socket
import ssl
import struct
import sys
import time

from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection
from aioquic.quic.events import HandshakeCompleted


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        chunk = s.recv(n - len(b))
        if not chunk:
            sys.exit("socks_udp: the proxy closed the control connection")
        b += chunk
    return b


def address(host, port):
    """SOCKS5 address: type 1 for an IPv4 literal, 3 for a name."""
    try:
        return b"\x01" + ipaddress.IPv4Address(host).packed + struct.pack("!H", port)
    except ValueError:
        name = host.encode()
        return b"\x03" + bytes([len(name)]) + name + struct.pack("!H", port)


def dns_query(qid, name, qtype):
    q = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\x00"
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + q + struct.pack("!HH", qtype, 1)


def unwrap(d):
    """The data of a datagram from the relay, after its SOCKS header."""
    if len(d) < 4 or d[:3] != b"\x00\x00\x00":
        return None
    n = {1: 4, 4: 16}.get(d[3])
    if n is None:
        n = 1 + d[4]
    return d[4 + n + 2 :]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--proxy", required=True, help="ADDR:PORT")
    ap.add_argument("--bind", required=True, help="client address")
    ap.add_argument("--steps", default="dns,quic", help="dns, quic or both (comma-separated)")
    ap.add_argument("--resolver")
    ap.add_argument("--resolver-name")
    ap.add_argument("--a-name")
    ap.add_argument("--aaaa-name")
    ap.add_argument("--quic-target", help="NAME:PORT or ADDRESS:PORT")
    ap.add_argument("--quic-sni")
    a = ap.parse_args()
    steps = set(a.steps.split(","))
    need = {"dns": ("resolver", "resolver_name", "a_name", "aaaa_name"), "quic": ("quic_target", "quic_sni")}
    for step in steps:
        for opt in need.get(step) or ap.error(f"unknown step {step}"):
            if getattr(a, opt) is None:
                ap.error(f"--{opt.replace('_', '-')} is needed for step {step}")
    phost, pport = a.proxy.rsplit(":", 1)

    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind((a.bind, 0))
    udp.settimeout(3)
    ctl = socket.create_connection((phost, int(pport)), timeout=5, source_address=(a.bind, 0))
    ctl.sendall(b"\x05\x01\x00")
    if recv_exact(ctl, 2) != b"\x05\x00":
        sys.exit("socks_udp: the proxy refused the method")
    ctl.sendall(b"\x05\x03\x00" + address(a.bind, udp.getsockname()[1]))
    head = recv_exact(ctl, 4)
    if head[1] != 0:
        sys.exit(f"socks_udp: UDP ASSOCIATE refused with code {head[1]}")
    n = {1: 4, 4: 16}.get(head[3]) or recv_exact(ctl, 1)[0]
    raw = recv_exact(ctl, n + 2)
    relay_port = struct.unpack("!H", raw[-2:])[0]
    relay_ip = str(ipaddress.ip_address(raw[:n])) if head[3] in (1, 4) else phost
    if relay_ip in ("0.0.0.0", "::"):
        relay_ip = phost
    relay = (relay_ip, relay_port)

    def exchange(target, data):
        udp.sendto(b"\x00\x00\x00" + target + data, relay)
        d, _ = udp.recvfrom(65535)
        return unwrap(d)

    if "dns" in steps:
        answer = exchange(address(a.resolver, 53), dns_query(0x5101, a.a_name, 1))
        print("A answer:", len(answer or b""), "bytes")
        answer = exchange(address(a.resolver_name, 53), dns_query(0x5102, a.aaaa_name, 28))
        print("AAAA answer:", len(answer or b""), "bytes")
    if "quic" in steps:
        quic(a, udp, relay)
    ctl.close()


def quic(a, udp, relay):
    qhost, qport = a.quic_target.rsplit(":", 1)
    target = address(qhost, int(qport))
    config = QuicConfiguration(is_client=True, alpn_protocols=["h3"], server_name=a.quic_sni)
    config.verify_mode = ssl.CERT_NONE
    conn = QuicConnection(configuration=config)
    conn.connect(relay, now=time.time())
    deadline = time.time() + 5
    done = False
    while not done and time.time() < deadline:
        for data, _ in conn.datagrams_to_send(now=time.time()):
            udp.sendto(b"\x00\x00\x00" + target + data, relay)
        try:
            d, _ = udp.recvfrom(65535)
        except socket.timeout:
            conn.handle_timer(now=time.time())
            continue
        data = unwrap(d)
        if data is not None:
            conn.receive_datagram(data, relay, now=time.time())
        while (ev := conn.next_event()) is not None:
            if isinstance(ev, HandshakeCompleted):
                done = True
    if not done:
        sys.exit("socks_udp: the QUIC handshake did not complete")
    conn.close()
    for data, _ in conn.datagrams_to_send(now=time.time()):
        udp.sendto(b"\x00\x00\x00" + target + data, relay)
    print("QUIC handshake completed")


if __name__ == "__main__":
    main()
