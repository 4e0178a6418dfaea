"""Serve ASGI apps with uvicorn on sockets bound here, in one background thread of the daemon.

Binding ourselves (instead of letting uvicorn do it) lets the Unix socket get mode 0660 (uvicorn
would make it 0666) and makes a bind error (port in use) an exception at start-up, in the
caller's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import stat
import threading
import time
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp

log = logging.getLogger(__name__)


def bind_tcp(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family, backlog=64)
    sock.set_inheritable(False)
    return sock


def bind_unix(path: Path, mode: int = 0o660) -> socket.socket:
    """Bind a stream socket at ``path``; a stale socket file (no one listening) is replaced."""
    if path.exists() or path.is_symlink():
        if not stat.S_ISSOCK(path.lstat().st_mode):
            raise FileExistsError(f"{path} exists and is not a socket")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            try:
                probe.connect(str(path))
            except OSError:
                path.unlink()  # nobody answers: left over from a crash
            else:
                raise OSError(f"{path} is in use: is another bodydock daemon running?")
    path.parent.mkdir(parents=True, exist_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(str(path))
        # Until this chmod the umask applies (0755 by default: others cannot connect, as
        # connecting needs write permission).
        os.chmod(path, mode)
        sock.listen(64)
    except BaseException:
        sock.close()
        raise
    return sock


def describe(sock: socket.socket) -> str:
    addr = sock.getsockname()
    if sock.family == socket.AF_UNIX:
        return f"unix:{addr}"
    return f"http://{addr[0]}:{addr[1]}"


class HttpServers:
    def __init__(self, listeners: list[tuple[ASGIApp, socket.socket]]) -> None:
        self._listeners = listeners
        self._servers = [
            uvicorn.Server(uvicorn.Config(app, log_config=None, log_level="warning", access_log=False,
                                          lifespan="off", server_header=False, timeout_graceful_shutdown=2,
                                          # Not uvloop: this server runs on a thread of the daemon.
                                          loop="asyncio", http="h11"))
            for app, _ in listeners
        ]
        self._unix_paths = [Path(sock.getsockname()) for _, sock in listeners if sock.family == socket.AF_UNIX]
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def start(self, timeout: float = 15.0) -> None:
        self._thread = threading.Thread(target=self._run, name="http", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not all(s.started for s in self._servers):
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"HTTP servers did not start: {self._error!r}")
            time.sleep(0.02)
        for _, sock in self._listeners:
            log.info("health API listening on %s", describe(sock))

    def _run(self) -> None:
        async def main() -> None:
            await asyncio.gather(*(server.serve(sockets=[sock])
                                   for server, (_, sock) in zip(self._servers, self._listeners, strict=True)))

        try:
            asyncio.run(main())
        except BaseException as exc:  # reported by start(), or logged when already running
            self._error = exc
            log.exception("HTTP servers stopped")

    def stop(self) -> None:
        for server in self._servers:
            server.should_exit = True
        if self._thread:
            self._thread.join(timeout=10)
        for _, sock in self._listeners:
            with contextlib.suppress(OSError):
                sock.close()
        for path in self._unix_paths:
            with contextlib.suppress(OSError):
                path.unlink()
