"""Short-lived kiosk sessions: after a badge or PIN, the daemon keeps who it is (an Identity from
the shift service) and hands the kiosk an opaque token. The kiosk never says who someone is; it
only shows the token, so a crashed or tampered kiosk cannot act as anyone else."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from station.shift import Identity

IDLE_S = 300.0  # the kiosk returns home long before; this bounds a token left behind


@dataclass(frozen=True)
class KioskSession:
    token: str
    identity: Identity
    purpose: str  # checkin | staff
    checkin_id: int | None


class Sessions:
    def __init__(self, idle_s: float = IDLE_S, clock: Callable[[], float] = time.monotonic) -> None:
        self._idle, self._clock = idle_s, clock
        self._by_token: dict[str, tuple[KioskSession, float]] = {}
        self._lock = threading.Lock()

    def open(self, identity: Identity, purpose: str, checkin_id: int | None = None) -> KioskSession:
        s = KioskSession(secrets.token_urlsafe(24), identity, purpose, checkin_id)
        with self._lock:
            self._purge()
            self._by_token[s.token] = (s, self._clock())
        return s

    def get(self, token: str | None) -> KioskSession | None:
        if not token:
            return None
        with self._lock:
            self._purge()
            entry = self._by_token.get(token)
            if entry is None:
                return None
            self._by_token[token] = (entry[0], self._clock())  # each use extends it
            return entry[0]

    def close(self, token: str | None) -> None:
        with self._lock:
            self._by_token.pop(token or "", None)

    def _purge(self) -> None:
        now = self._clock()
        for token in [t for t, (_, seen) in self._by_token.items() if now - seen > self._idle]:
            del self._by_token[token]
