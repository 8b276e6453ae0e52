"""A small OpenAI-compatible HTTP server on 127.0.0.1 for tests of the real SDK.

Behaviour is scripted by markers in the prompt:
  zzrefuse -> 400 content_policy_violation
  zzflaky  -> 429 (retry-after: 0) on the first request for that prompt, then success
  zzdown   -> 500 while `server.down` is True
  zzgarbage -> 200 whose base64 is not an image
otherwise 200 with a small PNG and a usage block. /v1/chat/completions rewrites a prompt.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from PIL import Image


def _png(seed_text: str) -> str:
    h = hashlib.sha256(seed_text.encode()).digest()
    img = Image.new("RGB", (32, 48), (h[0], h[1], h[2]))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


class FakeOpenAI(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict] = []
        self.counts: Counter = Counter()
        self.down = True
        self.reject_key = False
        self.auth_headers: set[str] = set()
        self.chat_reply: str | None = None  # None: a faithful rewrite
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: FakeOpenAI

    def log_message(self, *args):  # keep test output clean
        pass

    def _send(self, status: int, body: dict, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
        srv = self.server
        with srv.lock:
            srv.requests.append({"path": self.path, "body": body})
            srv.auth_headers.add(self.headers.get("authorization", ""))
        if srv.reject_key:
            return self._send(401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error",
                                              "code": "invalid_api_key"}})
        if self.path.endswith("/images/generations"):
            self._images(body)
        elif self.path.endswith("/chat/completions"):
            self._chat(body)
        else:
            self._send(404, {"error": {"message": "not found", "type": "invalid_request_error"}})

    def _images(self, body: dict) -> None:
        srv = self.server
        prompt = body.get("prompt", "")
        with srv.lock:
            srv.counts[prompt] += 1
            n = srv.counts[prompt]
        prompt = prompt.lower()
        if "zzrefuse" in prompt:
            return self._send(400, {"error": {"message": "Your request was rejected by the safety system.",
                                              "type": "invalid_request_error", "code": "content_policy_violation"}})
        if "zzflaky" in prompt and n == 1:
            return self._send(429, {"error": {"message": "Rate limit reached", "type": "rate_limit_error"}},
                              {"retry-after": "0"})
        if "zzdown" in prompt and srv.down:
            return self._send(500, {"error": {"message": "The server had an error", "type": "server_error"}})
        b64 = base64.b64encode(b"definitely not a png").decode() if "zzgarbage" in prompt else _png(prompt)
        self._send(200, {"created": 1, "data": [{"b64_json": b64}],
                         "usage": {"input_tokens": 50, "output_tokens": 4160, "total_tokens": 4210,
                                   "input_tokens_details": {"text_tokens": 50, "image_tokens": 0}}})

    def _chat(self, body: dict) -> None:
        user = body["messages"][-1]["content"]
        original = user.split("PROMPT:", 1)[-1].strip()
        reply = self.server.chat_reply or f"A refined runway look: {original}."
        self._send(200, {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": body["model"],
                         "choices": [{"index": 0, "finish_reason": "stop",
                                      "message": {"role": "assistant", "content": reply}}],
                         "usage": {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30}})
