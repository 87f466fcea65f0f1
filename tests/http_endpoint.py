"""A real local HTTP server standing for a client endpoint or a CRM (reusable).

    def test_…(http_endpoint):
        http_endpoint.script = [500, "ok"]       # answers in order, then "ok"
        … POST to http_endpoint.url …
        assert http_endpoint.unique_keys() == {"rdz-attribution-1"}

An answer is an HTTP status (int), "ok" (200), ("slow", seconds[, status]),
("redirect", status, location), ("big", bytes): a 200 whose body never seems to end, or
("trickle", bytes, seconds): a 200 whose body comes one byte every `seconds`.
`https_endpoint` is the same server behind TLS with a self-signed certificate.
A GET (what a followed redirect would send) is recorded too, with method "GET".
"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class RecordedRequest:
    def __init__(self, path: str, headers: dict, body: bytes, method: str = "POST") -> None:
        self.path = path
        self.headers = headers
        self.body = body
        self.method = method

    def json(self):
        return json.loads(self.body or b"null")


class Endpoint:
    def __init__(self) -> None:
        self.script: list = []
        self.default = "ok"
        self.requests: list[RecordedRequest] = []
        self.lock = threading.Lock()
        self.received = threading.Event()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with endpoint.lock:
                    endpoint.requests.append(
                        RecordedRequest(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    answer = endpoint.script.pop(0) if endpoint.script else endpoint.default
                endpoint.received.set()
                status = 200
                if isinstance(answer, tuple) and answer[0] == "redirect":
                    self._answer(answer[1], b"", location=answer[2])
                    return
                if isinstance(answer, tuple) and answer[0] == "big":
                    self._big(answer[1])
                    return
                if isinstance(answer, tuple) and answer[0] == "trickle":
                    self._trickle(answer[1], answer[2])
                    return
                if isinstance(answer, tuple):
                    time.sleep(answer[1])
                    status = answer[2] if len(answer) > 2 else 200
                elif isinstance(answer, int):
                    status = answer
                self._answer(status, json.dumps({"ok": 200 <= status < 300}).encode())

            def do_GET(self):
                with endpoint.lock:
                    endpoint.requests.append(
                        RecordedRequest(self.path, {k.lower(): v for k, v in self.headers.items()}, b"", "GET")
                    )
                self._answer(200, b"<html>une page</html>")

            def _answer(self, status: int, payload: bytes, location: str = "") -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    if location:
                        self.send_header("Location", location)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the caller gave up (timeout) or was killed

            def _big(self, size: int) -> None:
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(size))
                    self.end_headers()
                    chunk = b"x" * 65536
                    for _ in range(size // len(chunk)):
                        self.wfile.write(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the caller stopped reading, as it should

            def _trickle(self, size: int, interval: float) -> None:
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(size))
                    self.end_headers()
                    for _ in range(size):
                        self.wfile.write(b"x")
                        self.wfile.flush()
                        time.sleep(interval)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the caller gave up, as it should

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/leads"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def unique_keys(self) -> set[str]:
        return {r.headers.get("idempotency-key", "") for r in self.requests}


@pytest.fixture
def http_endpoint():
    endpoint = Endpoint()
    endpoint.start()
    yield endpoint
    endpoint.stop()


@pytest.fixture
def https_endpoint(tmp_path):
    """The same server behind TLS, with a self-signed certificate (which no client trusts)."""
    import shutil
    import ssl
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("needs openssl to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    make = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"]
    subprocess.run(
        [*make, "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    endpoint = Endpoint()
    endpoint.server.socket = context.wrap_socket(endpoint.server.socket, server_side=True)
    endpoint.url = endpoint.url.replace("http://", "https://")
    endpoint.start()
    yield endpoint
    endpoint.stop()
