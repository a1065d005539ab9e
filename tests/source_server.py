"""A real HTTP server on 127.0.0.1 (port 0) standing in for a data source's interface.

A test sets what each path answers (status, body, delay) and reads back every request it got,
headers included, so it can assert that the auth header was sent.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Answer:
    body: bytes
    status: int = 200
    content_type: str = "application/json"
    delay: float = 0.0


class SourceServer:
    def __init__(self) -> None:
        self.answers: dict[str, Answer] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.stopping = threading.Event()   # ends a delayed answer at once when the test is over
        self._lock = threading.Lock()
        handler = self._handler()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}{path}"

    def answer(self, path: str, body: Any, status: int = 200, content_type: str = "application/json",
               delay: float = 0.0) -> str:
        """Set what ``path`` answers (a dict/list is sent as JSON) and return its URL."""
        data = body if isinstance(body, bytes) else (
            body.encode() if isinstance(body, str) else json.dumps(body, ensure_ascii=False).encode())
        self.answers[path] = Answer(data, status, content_type, delay)
        return self.url(path)

    def hits(self, path: str) -> list[dict[str, str]]:
        with self._lock:
            return [headers for p, headers in self.requests if p == path]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802  (the http.server protocol)
                with server._lock:
                    server.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                answer = server.answers.get(self.path, Answer(b"not here", 404, "text/plain"))
                if answer.delay and server.stopping.wait(answer.delay):
                    return
                if answer.status in (301, 302, 307):
                    self.send_response(answer.status)
                    self.send_header("Location", answer.body.decode())
                    self.end_headers()
                    return
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def __enter__(self) -> SourceServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)
