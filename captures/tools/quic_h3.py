#!/usr/bin/env python3
"""Minimal HTTP/3 (QUIC v1, RFC 9000/9114) server and client built on aioquic.

Used only to record real QUIC traffic on loopback for the capture fixtures.
The client binds to a chosen source address (aioquic's own connect() binds
to "::"), sends one GET with SNI set to --sni, prints the status and exits.
Both ends offer QUIC version 1 only. The server answers every GET with a short text body and exits after
--lifetime seconds.
"""
import argparse
import asyncio
import socket
import ssl
import sys

from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.asyncio.server import serve
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection
from aioquic.quic.events import ProtocolNegotiated
from aioquic.quic.packet import QuicProtocolVersion

BODY = b"MT Reloaded asset index\nmaps/tortuga.bin 4812 bytes\nships/galleon.bin 2210 bytes\n"


class ServerProtocol(QuicConnectionProtocol):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._h3 = None

    def quic_event_received(self, event):
        if isinstance(event, ProtocolNegotiated):
            self._h3 = H3Connection(self._quic)
        if self._h3 is None:
            return
        for ev in self._h3.handle_event(event):
            if isinstance(ev, HeadersReceived) and ev.stream_ended:
                self._h3.send_headers(
                    ev.stream_id,
                    [
                        (b":status", b"200"),
                        (b"server", b"mtr-edge"),
                        (b"content-type", b"text/plain"),
                        (b"content-length", str(len(BODY)).encode()),
                    ],
                )
                self._h3.send_data(ev.stream_id, BODY, end_stream=True)
        self.transmit()


class ClientProtocol(QuicConnectionProtocol):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._h3 = H3Connection(self._quic)
        self.done = asyncio.get_event_loop().create_future()
        self.status = None
        self.body = b""

    def quic_event_received(self, event):
        for ev in self._h3.handle_event(event):
            if isinstance(ev, HeadersReceived):
                self.status = dict(ev.headers).get(b":status")
            elif isinstance(ev, DataReceived):
                self.body += ev.data
            if getattr(ev, "stream_ended", False) and not self.done.done():
                self.done.set_result(True)

    def get(self, authority, path):
        sid = self._quic.get_next_available_stream_id()
        self._h3.send_headers(
            sid,
            [
                (b":method", b"GET"),
                (b":scheme", b"https"),
                (b":authority", authority.encode()),
                (b":path", path.encode()),
                (b"user-agent", b"MTR-Reloaded-Launcher/1.4.2"),
            ],
            end_stream=True,
        )
        self.transmit()


async def run_server(a):
    cfg = QuicConfiguration(is_client=False, alpn_protocols=H3_ALPN)
    # QUIC v1 only: otherwise aioquic upgrades to v2 (RFC 9368/9369).
    cfg.supported_versions = [QuicProtocolVersion.VERSION_1]
    cfg.load_cert_chain(a.cert, a.key)
    server = await serve(a.host, a.port, configuration=cfg, create_protocol=ServerProtocol)
    await asyncio.sleep(a.lifetime)
    server.close()


async def run_client(a):
    cfg = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN, server_name=a.sni)
    cfg.verify_mode = ssl.CERT_NONE
    cfg.supported_versions = [QuicProtocolVersion.VERSION_1]
    fam = socket.AF_INET6 if ":" in a.host else socket.AF_INET
    sock = socket.socket(fam, socket.SOCK_DGRAM)
    sock.bind((a.bind, 0))
    loop = asyncio.get_event_loop()
    conn = QuicConnection(configuration=cfg)
    _, proto = await loop.create_datagram_endpoint(lambda: ClientProtocol(conn), sock=sock)
    proto.connect((a.host, a.port))
    await asyncio.wait_for(proto.wait_connected(), 5)
    proto.get(a.sni, a.path)
    await asyncio.wait_for(proto.done, 5)
    print("status", proto.status.decode(), len(proto.body), "bytes")
    proto.close()
    await asyncio.wait_for(proto.wait_closed(), 5)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["server", "client"])
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, default=443)
    ap.add_argument("--bind", default="0.0.0.0")
    ap.add_argument("--sni", default="localhost")
    ap.add_argument("--path", default="/")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--lifetime", type=float, default=10)
    a = ap.parse_args()
    asyncio.run(run_server(a) if a.mode == "server" else run_client(a))
    return 0


if __name__ == "__main__":
    sys.exit(main())
