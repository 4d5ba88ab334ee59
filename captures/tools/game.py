#!/usr/bin/env python3
"""Tiny game server and client speaking the fictional "MTR1" binary protocol.

Used only to record real TCP traffic on loopback for the capture fixtures.

Wire format (all integers big-endian):
  connection preface, client to server: b"MTR1" (4 bytes)
  every message: u16 length of (type + body), u8 type, body

  client messages                      server messages
  0x01 LOGIN  u8 version, u8 n, name,  0x81 WELCOME u32 session, u8 n, motd
              u8 n, token
  0x10 JOIN   u32 ship id              0x90 STATE   u32 ship, i32 x, i32 y, u16 crew
  0x11 MOVE   i32 x, i32 y             0x90 STATE   (same)
  0x12 CHAT   utf-8 text               0x92 CHAT    u32 session, utf-8 text
  0x13 FIRE   u8 cannon, u32 target    0x93 HIT     u32 target, u16 damage
  0x1f LOGOUT (empty)                  0x9f BYE     (empty), then close

The server handles a fixed number of sessions and then exits; every socket
operation has a timeout, so neither side can hang.
"""
import argparse
import socket
import struct
import sys

PREFACE = b"MTR1"


def msg(kind, body=b""):
    return struct.pack(">HB", len(body) + 1, kind) + body


def read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("peer closed")
        buf += chunk
    return buf


def read_msg(sock):
    length, kind = struct.unpack(">HB", read_exact(sock, 3))
    return kind, read_exact(sock, length - 1)


def family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def serve(host, port, sessions):
    srv = socket.socket(family(host), socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, port))
    srv.listen(4)
    srv.settimeout(30)
    session = 0x5EA1
    for _ in range(sessions):
        conn, _ = srv.accept()
        conn.settimeout(10)
        session += 1
        ship, x, y = 0, 0, 0
        with conn:
            if read_exact(conn, 4) != PREFACE:
                continue
            while True:
                kind, body = read_msg(conn)
                if kind == 0x01:
                    motd = "Welcome aboard, captain! Server eu-1 / season 7".encode()
                    conn.sendall(msg(0x81, struct.pack(">IB", session, len(motd)) + motd))
                elif kind == 0x10:
                    (ship,) = struct.unpack(">I", body)
                    conn.sendall(msg(0x90, struct.pack(">IiiH", ship, x, y, 42)))
                elif kind == 0x11:
                    x, y = struct.unpack(">ii", body)
                    conn.sendall(msg(0x90, struct.pack(">IiiH", ship, x, y, 42)))
                elif kind == 0x12:
                    conn.sendall(msg(0x92, struct.pack(">I", session) + body))
                elif kind == 0x13:
                    _cannon, target = struct.unpack(">BI", body)
                    conn.sendall(msg(0x93, struct.pack(">IH", target, 17)))
                elif kind == 0x1F:
                    conn.sendall(msg(0x9F))
                    break
    srv.close()


def client(host, port, bind):
    sock = socket.socket(family(host), socket.SOCK_STREAM)
    sock.settimeout(10)
    if bind:
        sock.bind((bind, 0))
    sock.connect((host, port))
    name, token = b"BlackbeardX", b"c0ffee00deadbeef5eed1e55f00dcafe"
    script = [
        msg(0x01, struct.pack(">BB", 3, len(name)) + name + struct.pack(">B", len(token)) + token),
        msg(0x10, struct.pack(">I", 1717)),
        msg(0x11, struct.pack(">ii", 120, -45)),
        msg(0x12, "Ahoy! Anyone up for a raid on Tortuga?".encode()),
        msg(0x13, struct.pack(">BI", 2, 9001)),
        msg(0x11, struct.pack(">ii", 133, -40)),
        msg(0x1F),
    ]
    sock.sendall(PREFACE)
    for m in script:
        sock.sendall(m)
        kind, body = read_msg(sock)
        print("server 0x%02x %d bytes" % (kind, len(body)))
    sock.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["server", "client"])
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, default=7777)
    ap.add_argument("--bind", help="client source address")
    ap.add_argument("--sessions", type=int, default=1)
    a = ap.parse_args()
    if a.mode == "server":
        serve(a.host, a.port, a.sessions)
    else:
        client(a.host, a.port, a.bind)
    return 0


if __name__ == "__main__":
    sys.exit(main())
