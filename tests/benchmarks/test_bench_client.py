"""The serving benchmark's load-generator connection reads whole answers over one keep-alive link."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from benchmarks.serving import Connection


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    connections: ClassVar[set[int]] = set()

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        _Handler.connections.add(self.client_address[1])
        body = self.rfile.read(int(self.headers["Content-Length"]))
        status = 200 if body.startswith(b"{") else 400
        self.send_response(status)
        self.send_header("Content-Length", str(len(body) * 3))
        self.end_headers()
        self.wfile.write(body * 3)

    def do_GET(self) -> None:
        _Handler.connections.add(self.client_address[1])
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for chunk in (b"hello ", b"world" * 1000):
            self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")


@pytest.fixture
def url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_statuses_bodies_and_one_connection(url: str) -> None:
    _Handler.connections.clear()
    host = url.split("://")[1]
    good = Connection.request("POST", "/score", host, b'{"customer_ids": ["a"]}')
    bad = Connection.request("POST", "/score", host, b"not json")
    chunked = Connection.request("GET", "/livez", host, b"")

    async def drive() -> list[int]:
        connection = Connection(url)
        try:
            return [await connection.send(raw) for raw in (good, chunked, bad, good, chunked)]
        finally:
            await connection.close()

    # answers read whole, or the next request on the same connection would read leftovers
    assert asyncio.run(drive()) == [200, 200, 400, 200, 200]
    assert len(_Handler.connections) == 1
