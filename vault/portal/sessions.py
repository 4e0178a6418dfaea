"""Server-side sessions: a random id in a Secure, HttpOnly, SameSite=Strict cookie; everything
else (who, the CSRF token, open viewings) stays in the server's memory. A session ends after
``timeout_s`` without a request, at logout, or when the server stops; a login gets a new id."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from vault.portal.agerange import AgeRange


@dataclass(slots=True, kw_only=True)
class Viewing:
    """One recording opened for a purpose (already in the access log), bound to one session."""

    id: str
    recording: str
    purpose: str
    case: str | None
    opened_seq: int
    opened_at: str
    content_type: str
    size: int
    payload_path: str
    payload_size: int
    reader: AgeRange | None = None
    bytes_served: int = 0


@dataclass(slots=True, kw_only=True)
class Session:
    id: str
    csrf: str
    user: str | None
    last_seen: float
    viewings: dict[str, Viewing] = field(default_factory=dict)


class Sessions:
    def __init__(self, timeout_s: float, *, clock: Callable[[], float] = time.monotonic,
                 on_end: Callable[[Session, str], None] | None = None) -> None:
        self.timeout_s = timeout_s
        self._clock = clock
        self._on_end = on_end
        self._by_id: dict[str, Session] = {}
        # Ids of sessions that timed out, so the next request with one can say so (for an hour).
        self._expired: dict[str, float] = {}
        self._lock = threading.Lock()

    def new(self, user: str | None = None) -> Session:
        s = Session(id=secrets.token_urlsafe(32), csrf=secrets.token_urlsafe(32), user=user, last_seen=self._clock())
        with self._lock:
            self._by_id[s.id] = s
        return s

    def get(self, sid: str | None) -> tuple[Session | None, bool]:
        """(the live session, whether one with this id just expired)."""
        if not sid:
            return None, False
        now = self._clock()
        with self._lock:
            s = self._by_id.get(sid)
            if s is None:
                return None, self._expired.pop(sid, None) is not None
            if now - s.last_seen > self.timeout_s:
                del self._by_id[sid]
                expired = s
            else:
                s.last_seen = now
                return s, False
        self._ended(expired, "timeout")
        return None, expired.user is not None

    def login(self, old: Session | None, user: str) -> Session:
        if old is not None:
            self.end(old.id, "login")
        return self.new(user)

    def end(self, sid: str, why: str) -> None:
        with self._lock:
            s = self._by_id.pop(sid, None)
        if s is not None:
            self._ended(s, why)

    def sweep(self) -> None:
        now = self._clock()
        with self._lock:
            gone = [s for s in self._by_id.values() if now - s.last_seen > self.timeout_s]
            for s in gone:
                del self._by_id[s.id]
                if s.user is not None:
                    self._expired[s.id] = now
            for sid, at in list(self._expired.items()):
                if now - at > 3600:
                    del self._expired[sid]
        for s in gone:
            self._ended(s, "timeout")

    def end_all(self, why: str) -> None:
        with self._lock:
            gone = list(self._by_id.values())
            self._by_id.clear()
        for s in gone:
            self._ended(s, why)

    def _ended(self, s: Session, why: str) -> None:
        if self._on_end is not None and s.user is not None:
            self._on_end(s, why)
