"""An HTTP server on 127.0.0.1 whose answers a test scripts: the data layer's only network.

``LocalServer.serve(path, first, second, ...)``: the n-th request for ``path`` gets the n-th
answer, later requests the last one. An answer is the body (bytes) or one of the misbehaviours
below; ``hits[path]`` counts the requests.
"""

from __future__ import annotations

import http.server
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Truncated:
    """Announces ``declared`` bytes, sends ``body`` and closes the connection."""

    body: bytes
    declared: int


@dataclass
class Status:
    """An HTTP error or redirect: ``code`` with ``headers`` (e.g. a Location) and no body."""

    code: int
    headers: dict = field(default_factory=dict)


@dataclass
class ChunkedDrop:
    """A chunked transfer that announces a chunk of ``announce`` bytes, sends ``body`` and closes."""

    body: bytes
    announce: int


@dataclass
class Trickle:
    """Sends ``body`` one byte at a time, ``delay`` seconds apart (under any per-read timeout)."""

    body: bytes
    delay: float


@dataclass
class Endless:
    """A chunked body that does not end; ``sent`` counts the bytes that went out. It stops after
    ``limit`` bytes (dropping the connection) only so that a client without a size cap cannot
    fill the test machine's disk."""

    limit: int = 64 << 20
    sent: int = 0


@dataclass
class SlowHeaders:
    """Says nothing for ``delay`` seconds, then answers with ``body``."""

    body: bytes
    delay: float


@dataclass
class TrickleHeaders:
    """Sends its status line and headers (padded to about ``size`` bytes) one byte every ``delay``
    seconds, then ``body`` at once: every single read is quick, the whole answer is not."""

    body: bytes
    delay: float
    size: int = 120


class LocalServer:
    def __init__(self):
        self.routes: dict[str, list] = {}
        self.hits: Counter = Counter()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                path = urllib.parse.urlparse(self.path).path
                server.hits[path] += 1
                answers = server.routes.get(path)
                if not answers:
                    self.send_error(404)
                    return
                answer = answers.pop(0) if len(answers) > 1 else answers[0]
                self.close_connection = True
                if isinstance(answer, Truncated):
                    self.send_response(200)
                    self.send_header("Content-Length", str(answer.declared))
                    self.end_headers()
                    self.wfile.write(answer.body)
                elif isinstance(answer, Status):
                    self.send_response(answer.code)
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif isinstance(answer, ChunkedDrop):
                    self.send_response(200)
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    self.wfile.write(f"{answer.announce:x}\r\n".encode() + answer.body)
                elif isinstance(answer, Trickle):
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(answer.body)))
                    self.end_headers()
                    for i in range(len(answer.body)):
                        try:
                            self.wfile.write(answer.body[i : i + 1])
                            self.wfile.flush()
                        except OSError:  # the client gave up
                            return
                        time.sleep(answer.delay)
                elif isinstance(answer, Endless):
                    self.send_response(200)
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    chunk = b"%x\r\n%s\r\n" % (1 << 16, b"\0" * (1 << 16))
                    while answer.sent < answer.limit:
                        try:
                            self.wfile.write(chunk)
                        except OSError:  # the client gave up: what a size cap does
                            return
                        answer.sent += 1 << 16
                    return  # no last chunk: the body never ended
                elif isinstance(answer, SlowHeaders):
                    time.sleep(answer.delay)
                    try:
                        self.send_response(200)
                        self.send_header("Content-Length", str(len(answer.body)))
                        self.end_headers()
                        self.wfile.write(answer.body)
                    except OSError:
                        return
                elif isinstance(answer, TrickleHeaders):
                    head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(answer.body)}\r\nConnection: close\r\n"
                    head = (
                        head + "X-Padding: " + "x" * max(0, answer.size - len(head) - 16) + "\r\n\r\n"
                    ).encode()
                    try:
                        for i in range(len(head)):
                            self.wfile.write(head[i : i + 1])
                            time.sleep(answer.delay)
                        self.wfile.write(answer.body)
                    except OSError:
                        return
                else:
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                self.wfile.flush()

            def log_message(self, *args):  # keep the test output clean
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def serve(self, path: str, *answers) -> str:
        self.routes[path] = list(answers)
        return self.url + path

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
