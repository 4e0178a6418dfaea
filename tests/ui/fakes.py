"""A KioskService that records calls and lets the test answer them (as the main thread would
receive them from the worker threads)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ui.client.model import CheckinDetail, Progress, Recording, Refusal, Session
from ui.client.service import Credentials, TagChoice
from ui.client.staffmodel import AdminInfo, HealthInfo


@dataclass
class Call:
    name: str
    args: tuple[Any, ...]
    done: Callable[[Any], None] | None


@dataclass
class FakeService:
    calls: list[Call] = field(default_factory=list)
    logged_out: list[str] = field(default_factory=list)
    badge: list[tuple[str, int | None]] = field(default_factory=list)

    def _add(self, name: str, done: Callable[[Any], None] | None, *args: Any) -> None:
        self.calls.append(Call(name, args, done))

    def pending(self, name: str) -> Call:
        return next(c for c in reversed(self.calls) if c.name == name)

    def answer(self, name: str, result: Any) -> None:
        call = self.pending(name)
        assert call.done is not None
        call.done(result)

    def checkout(self, cred: Credentials, done: Callable[[Any], None]) -> None:
        self._add("checkout", done, cred)

    def login(self, cred: Credentials, purpose: str, done: Callable[[Any], None],
              checkin_id: int | None = None) -> None:
        self._add("login", done, cred, purpose, checkin_id)

    def logout(self, token: str) -> None:
        self.logged_out.append(token)

    def checkin(self, checkin_id: int, token: str, done: Callable[[Any], None]) -> None:
        self._add("checkin", done, checkin_id, token)

    def tag(self, checkin_id: int, token: str, recording_id: str, choice: TagChoice,
            done: Callable[[Any], None]) -> None:
        self._add("tag", done, checkin_id, token, recording_id, choice)

    def finish_checkin(self, checkin_id: int, token: str, done: Callable[[Any], None]) -> None:
        self._add("finish", done, checkin_id, token)

    def health(self, token: str, done: Callable[[Any], None]) -> None:
        self._add("health", done, token)

    def acknowledge(self, token: str, alert_id: int, done: Callable[[Any], None]) -> None:
        self._add("ack", done, token, alert_id)

    def admin(self, token: str, done: Callable[[Any], None]) -> None:
        self._add("admin", done, token)

    def roster_sync(self, token: str, done: Callable[[Any], None]) -> None:
        self._add("roster_sync", done, token)

    def badge_purpose(self, purpose: str, checkin_id: int | None) -> None:
        self.badge.append((purpose, checkin_id))


SESSION = Session("tok-1", "A. de Vries", ("officer",))
STAFF_SESSION = Session("tok-s", "J. Visser", ("staff",))
ADMIN_SESSION = Session("tok-a", "K. Admin", ("admin", "staff"))


def detail(*recs: Recording, safe_to_leave: bool = False, editable: bool = True) -> CheckinDetail:
    return CheckinDetail(7, 3, "3", "CAM-A", "SimCam", tuple(recs), Progress(), safe_to_leave, editable)


__all__ = ["ADMIN_SESSION", "SESSION", "STAFF_SESSION", "AdminInfo", "FakeService", "HealthInfo", "Refusal",
           "detail"]
