"""A local OpenAI-compatible server for tests, benchmarks and demos: fixed latency, answers from a function.

By default it answers like `FakeLLM` (deterministic per prompt). It counts requests and the peak number in
flight, and can fail scripted requests (429 with Retry-After, a dropped connection) to exercise retries.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from curation.generate.llm import Completion, FakeLLM

Answer = Callable[[str, dict[str, Any]], Completion]


class FakeOpenAIServer:
    """`with FakeOpenAIServer(latency=0.5) as server: ... server.url`; `failures` maps request number -> fault."""

    def __init__(self, latency: float = 0.0, answer: Answer | None = None, seed: int = 0) -> None:
        fake = FakeLLM(seed=seed)
        self.answer = answer or (
            lambda prompt, body: fake.complete(
                prompt, max_tokens=body.get("max_tokens", 256), stop=body.get("stop") or ()
            )
        )
        self.latency = latency
        self.failures: dict[int, tuple] = {}
        self.requests = 0
        self.in_flight = self.peak_in_flight = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                with server._lock:
                    server.requests += 1
                    number = server.requests
                    server.in_flight += 1
                    server.peak_in_flight = max(server.peak_in_flight, server.in_flight)
                try:
                    time.sleep(server.latency)
                    server._respond(self, number, body)
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.request_queue_size = 256
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def _respond(self, handler: BaseHTTPRequestHandler, number: int, body: dict[str, Any]) -> None:
        fault = self.failures.get(number)
        if fault and fault[0] == "drop":
            handler.connection.shutdown(socket.SHUT_RDWR)
            handler.close_connection = True
            return
        if fault and fault[0] == "status":
            payload = b'{"error": "try later"}'
            handler.send_response(fault[1])
            for name, value in (fault[2] if len(fault) > 2 else {}).items():
                handler.send_header(name, value)
        else:
            chat = "messages" in body
            prompt = body["messages"][-1]["content"] if chat else body.get("prompt", "")
            done = self.answer(prompt, body)
            choice = {"message": {"role": "assistant", "content": done.text}} if chat else {"text": done.text}
            usage = {"prompt_tokens": len(prompt.split()), "completion_tokens": len(done.text.split())}
            payload = json.dumps({"choices": [choice | {"finish_reason": done.finish_reason}], "usage": usage}).encode()
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    def __enter__(self) -> FakeOpenAIServer:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
