"""A local stand-in for a company CRM (ZR7 CRM or MDL CRM), for the demo landing page
and the integration tests: a real HTTP server that checks the key header, stores one
record per `Idempotency-Key` (a replay answers the stored record) and can be scripted
to fail (status codes, slow answers).
"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeCrm:
    """`script`: answers consumed in order, each an HTTP status (int), a status with its JSON
    body ((status, dict)) or ("slow", seconds) (the record is stored, then the answer comes
    late: a client timeout); then "ok"."""

    def __init__(
        self, *, name: str = "CRM", key: str = "", auth_header: str = "X-API-Key", port: int = 0, on_record=None
    ):
        self.name = name
        self.on_record = on_record
        self.key = key
        self.auth_header = auth_header.lower()
        self.script: list = []
        self.records: dict[str, dict] = {}
        self.calls: list[dict] = []
        self.lock = threading.Lock()
        crm = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                crm._handle(self)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/leads"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length)
        headers = {k.lower(): v for k, v in handler.headers.items()}
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            body = None
        with self.lock:
            answer = self.script.pop(0) if self.script else "ok"
            self.calls.append({"path": handler.path, "headers": headers, "body": body, "answer": answer})
            status, payload = self._decide(headers, body, answer)
        if isinstance(answer, tuple) and answer[0] == "slow":
            time.sleep(answer[1])
        data = json.dumps(payload, ensure_ascii=False).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json; charset=utf-8")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout)

    def _decide(self, headers: dict, body, answer) -> tuple[int, dict]:
        if isinstance(answer, int) and answer != 200:
            return answer, {"error": f"scripted {answer}"}
        if isinstance(answer, tuple) and isinstance(answer[0], int):
            return answer
        if self.key and headers.get(self.auth_header) != self.key:
            return 401, {"error": "invalid key"}
        if not isinstance(body, dict):
            return 400, {"error": "JSON object expected"}
        idem = headers.get("idempotency-key", "")
        if idem and idem in self.records:
            return 200, {"id": self.records[idem]["crm_id"], "replayed": True}
        crm_id = f"{self.name.lower()}-{len(self.records) + 1}"
        self.records[idem or crm_id] = {"crm_id": crm_id, "body": body}
        if self.on_record:
            self.on_record(crm_id, body)
        return 201, {"id": crm_id}

    def start(self) -> "FakeCrm":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
