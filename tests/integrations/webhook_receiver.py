"""A real HTTP receiver for webhook tests: uvicorn on 127.0.0.1 (a free port) in the test's
event loop, checking every request's HMAC signature as an integrator would."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import socket
from dataclasses import dataclass, field
from typing import Any

import uvicorn


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    signature_ok: bool
    status: int


@dataclass
class Receiver:
    base_url: str = ""
    secrets: dict[str, str] = field(default_factory=dict)  # path -> signing secret
    scripts: dict[str, list[int]] = field(default_factory=dict)  # path -> statuses to answer
    hits: list[Hit] = field(default_factory=list)
    delay: float = 0.0

    def url(self, path: str) -> str:
        return self.base_url + path

    def ok_hits(self, path: str | None = None) -> list[Hit]:
        return [h for h in self.hits if h.status == 200 and (path is None or h.path == path)]

    async def __call__(self, scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        path = scope["path"]
        secret = self.secrets.get(path, "")
        expected = (
            "sha256="
            + hmac.new(
                secret.encode(),
                headers.get("x-childprotect-timestamp", "").encode() + b"." + body,
                hashlib.sha256,
            ).hexdigest()
        )
        ok = hmac.compare_digest(headers.get("x-childprotect-signature", ""), expected)
        script = self.scripts.get(path) or []
        status = script.pop(0) if script else 200
        if not ok:
            status = 401
        if self.delay:
            await asyncio.sleep(self.delay)
        self.hits.append(Hit(path, headers, json.loads(body), ok, status))
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"text/plain")],
            }
        )
        await send({"type": "http.response.body", "body": b"received"})


async def start_receiver() -> tuple[Receiver, uvicorn.Server, asyncio.Task[None]]:
    receiver = Receiver()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    receiver.base_url = f"http://127.0.0.1:{port}"
    config = uvicorn.Config(receiver, lifespan="off", log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    # The test runner owns the signals.
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.01)
    assert server.started
    return receiver, server, task
