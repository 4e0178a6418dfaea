"""Token or basic auth for the LAN side. The secret comes from a mode-0600 file, is compared in
constant time, and never appears in a log line, an error or a repr."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from config.model import HealthAuthMode, StatusAuth
from station.crypto.keys import read_secret_file

# Slows down guessing over the network without blocking anyone else (the wait is async).
FAILURE_DELAY_S = 0.5


class Authenticator:
    def __init__(self, mode: HealthAuthMode, secret: bytes, user: str = "staff") -> None:
        if not secret:
            raise ValueError("the status page secret is empty")
        self.mode, self.user = mode, user
        self._secret = secret

    @classmethod
    def from_config(cls, auth: StatusAuth) -> Authenticator:
        # One trailing newline (an editor's or `echo`'s) is not part of the secret.
        return cls(auth.mode, read_secret_file(auth.secret_file).strip(), auth.user)

    def __repr__(self) -> str:
        return f"Authenticator(mode={self.mode!r}, user={self.user!r}, secret=<hidden>)"

    @property
    def challenge(self) -> str:
        return 'Basic realm="bodydock", charset="UTF-8"' if self.mode == "basic" else 'Bearer realm="bodydock"'

    def allows(self, authorization: str | None) -> bool:
        if not authorization:
            return False
        scheme, _, value = authorization.strip().partition(" ")
        value = value.strip()
        if self.mode == "token":
            return scheme.lower() == "bearer" and hmac.compare_digest(value.encode(), self._secret)
        if scheme.lower() != "basic":
            return False
        try:
            user, sep, password = base64.b64decode(value, validate=True).partition(b":")
        except (binascii.Error, ValueError):
            return False
        # Both compared, always, so the time taken does not tell which one was wrong.
        user_ok = hmac.compare_digest(user, self.user.encode())
        password_ok = hmac.compare_digest(password, self._secret)
        return bool(sep) and user_ok and password_ok


class AuthMiddleware:
    """Every HTTP request needs valid credentials, except the paths in ``open_paths``."""

    def __init__(self, app: ASGIApp, auth: Authenticator, open_paths: Iterable[str] = ()) -> None:
        self.app, self.auth = app, auth
        self.open_paths = frozenset(open_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.open_paths:
            await self.app(scope, receive, send)
            return
        header = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"authorization"), None)
        if self.auth.allows(header):
            await self.app(scope, receive, send)
            return
        if header:
            await asyncio.sleep(FAILURE_DELAY_S)
        await send({"type": "http.response.start", "status": 401, "headers": [
            (b"www-authenticate", self.auth.challenge.encode()), (b"content-type", b"text/plain; charset=utf-8"),
            (b"cache-control", b"no-store")]})
        await send({"type": "http.response.body", "body": b"authentication required\n"})
