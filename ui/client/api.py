"""Blocking HTTP over the daemon's Unix socket. Only ever called from worker threads (see
``ui.client.bridge``), never from the Kivy main thread."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from ui.client.sse import SseEvent, SseParser

BASE_URL = "http://bodydock"  # the host part is ignored on a Unix socket


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class LocalApi:
    def __init__(self, socket_path: Path, *, timeout_s: float = 10.0) -> None:
        self.socket_path = socket_path
        self._timeout = timeout_s
        self._client = self._new_client(httpx.Timeout(timeout_s))

    def _new_client(self, timeout: httpx.Timeout) -> httpx.Client:
        return httpx.Client(transport=httpx.HTTPTransport(uds=str(self.socket_path)), base_url=BASE_URL,
                            timeout=timeout)

    def close(self) -> None:
        self._client.close()

    def request(self, method: str, path: str, body: Any = None, *, token: str | None = None,
                timeout_s: float | None = None) -> Reply:
        """Raises httpx.TransportError when the daemon cannot be reached."""
        headers = {"x-kiosk-session": token} if token else {}
        resp = self._client.request(method, path, json=body, headers=headers,
                                    timeout=timeout_s if timeout_s is not None else self._timeout)
        try:
            data = resp.json() if resp.content else None
        except json.JSONDecodeError:
            data = None
        return Reply(resp.status_code, data)

    def events(self, *, read_timeout_s: float = 30.0) -> Iterator[SseEvent]:
        """Stream ``GET /api/kiosk/events`` until the connection drops (heartbeats every few seconds
        keep ``read_timeout_s`` from firing on a healthy but quiet daemon)."""
        timeout = httpx.Timeout(10.0, read=read_timeout_s)
        with self._new_client(timeout) as client, client.stream("GET", "/api/kiosk/events") as resp:
            resp.raise_for_status()
            parser = SseParser()
            for line in resp.iter_lines():
                ev = parser.feed(line)
                if ev is not None:
                    yield ev
