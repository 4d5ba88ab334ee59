#!/usr/bin/env python3
"""Small HTTPS server (HTTP/1.1, TLS from Python's ssl module) for the shop page.

Serves one fixed HTML page for every GET, handles concurrent connections (a
browser opens several), and exits after --lifetime seconds.
Usage: https_serve.py HOST PORT CERT KEY [--lifetime N]
"""
import argparse
import http.server
import socket
import ssl
import threading

PAGE = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>MT Reloaded - Captain's Shop</title></head>
<body><h1>MT Reloaded</h1><p>Doubloon packs, ship skins and the season pass.</p>
<a href="https://dl.mtr-pirate.example/packages/mtr-reloaded-1.4.2-win64.pak">Download the game</a>
</body></html>
"""


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nginx"
    sys_version = ""

    def do_GET(self):
        body = PAGE if self.path in ("/", "/index.html") else b"not found\n"
        self.send_response(200 if body is PAGE else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, addr, handler):
        if ":" in addr[0]:
            self.address_family = socket.AF_INET6
        super().__init__(addr, handler)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("cert")
    ap.add_argument("key")
    ap.add_argument("--lifetime", type=float, default=30)
    a = ap.parse_args()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    ctx.set_alpn_protocols(["http/1.1"])
    srv = Server((a.host, a.port), Handler)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Timer(a.lifetime, srv.shutdown).start()
    srv.serve_forever()


if __name__ == "__main__":
    main()
