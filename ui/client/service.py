"""What the view-models may ask the station, as callbacks: the port between screens and the
local API. ``HttpKioskService`` runs each call on a worker thread and hands the result back on the
main thread through ``post``; tests use a fake that answers synchronously."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import httpx

from ui.client.api import LocalApi, Reply
from ui.client.model import (
    UNREACHABLE,
    CheckinDetail,
    CheckoutDone,
    Refusal,
    Session,
)
from ui.client.staffmodel import AdminInfo, HealthInfo

log = logging.getLogger(__name__)
T = TypeVar("T")
Done = Callable[[T | Refusal], None]


@dataclass(frozen=True)
class Credentials:
    """Badge UID, or personnel number + PIN. ``repr`` hides the PIN."""

    badge: str | None = None
    personnel_number: str | None = None
    pin: str | None = None

    def __repr__(self) -> str:
        return f"Credentials(badge={'…' if self.badge else None}, personnel_number={self.personnel_number!r})"

    def body(self) -> dict[str, str]:
        if self.badge:
            return {"badge": self.badge}
        return {"personnel_number": self.personnel_number or "", "pin": self.pin or ""}


@dataclass(frozen=True)
class TagChoice:
    tag: str  # evidence | learning | uncategorised
    case_number: str | None = None
    consent_given: bool | None = None
    consent_method: str | None = None

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"tag": self.tag}
        if self.case_number is not None:
            out["case_number"] = self.case_number
        if self.consent_method is not None:
            out["consent"] = {"given": bool(self.consent_given), "method": self.consent_method}
        return out


class KioskService(Protocol):
    def checkout(self, cred: Credentials, done: Done[CheckoutDone]) -> None: ...

    def login(self, cred: Credentials, purpose: str, done: Done[Session], checkin_id: int | None = None) -> None: ...

    def logout(self, token: str) -> None: ...

    def checkin(self, checkin_id: int, token: str, done: Done[CheckinDetail]) -> None: ...

    def tag(self, checkin_id: int, token: str, recording_id: str, choice: TagChoice,
            done: Done[CheckinDetail]) -> None: ...

    def finish_checkin(self, checkin_id: int, token: str, done: Done[CheckinDetail]) -> None: ...

    def health(self, token: str, done: Done[HealthInfo]) -> None: ...

    def acknowledge(self, token: str, alert_id: int, done: Done[bool]) -> None: ...

    def admin(self, token: str, done: Done[AdminInfo]) -> None: ...

    def roster_sync(self, token: str, done: Done[AdminInfo]) -> None: ...

    def badge_purpose(self, purpose: str, checkin_id: int | None) -> None:
        """Tell the daemon what a badge read at its reader means now (checkout, checkin, staff, none)."""


def _refusal(reply: Reply) -> Refusal:
    return Refusal.parse(reply.body, reply.status)


class HttpKioskService:
    # A check-out waits until the camera is configured (wearer, clock, settings): allow for a
    # slow camera, while every other call is quick.
    CHECKOUT_TIMEOUT_S = 60.0

    def __init__(self, api: LocalApi, post: Callable[[Callable[[], None]], None], workers: int = 3) -> None:
        self.api, self._post = api, post
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kiosk-api")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.api.close()

    def _run(self, method: str, path: str, body: Any, parse: Callable[[Any], T], done: Done[T], *,
             token: str | None = None, timeout_s: float | None = None) -> None:
        def work() -> None:
            try:
                reply = self.api.request(method, path, body, token=token, timeout_s=timeout_s)
                result: T | Refusal = parse(reply.body) if reply.ok else _refusal(reply)
            except httpx.TransportError as exc:
                log.warning("local API %s %s: %s", method, path, exc)
                result = UNREACHABLE
            except Exception:
                log.exception("local API %s %s", method, path)
                result = Refusal("failed")
            self._post(lambda: done(result))

        self._pool.submit(work)

    def checkout(self, cred: Credentials, done: Done[CheckoutDone]) -> None:
        self._run("POST", "/api/kiosk/checkout", cred.body(), CheckoutDone.parse, done,
                  timeout_s=self.CHECKOUT_TIMEOUT_S)

    def login(self, cred: Credentials, purpose: str, done: Done[Session], checkin_id: int | None = None) -> None:
        body: dict[str, Any] = {**cred.body(), "purpose": purpose}
        if checkin_id is not None:
            body["checkin_id"] = checkin_id
        self._run("POST", "/api/kiosk/sessions", body, Session.parse, done)

    def logout(self, token: str) -> None:
        self._run("DELETE", "/api/kiosk/sessions", None, lambda b: True, lambda r: None, token=token)

    def checkin(self, checkin_id: int, token: str, done: Done[CheckinDetail]) -> None:
        self._run("GET", f"/api/kiosk/checkins/{checkin_id}", None, CheckinDetail.parse, done, token=token)

    def tag(self, checkin_id: int, token: str, recording_id: str, choice: TagChoice,
            done: Done[CheckinDetail]) -> None:
        body = {"recording_id": recording_id, **choice.body()}
        self._run("POST", f"/api/kiosk/checkins/{checkin_id}/tags", body, CheckinDetail.parse, done, token=token)

    def finish_checkin(self, checkin_id: int, token: str, done: Done[CheckinDetail]) -> None:
        self._run("POST", f"/api/kiosk/checkins/{checkin_id}/finish", {}, CheckinDetail.parse, done, token=token)

    def health(self, token: str, done: Done[HealthInfo]) -> None:
        self._run("GET", "/api/kiosk/staff/health", None, HealthInfo.parse, done, token=token)

    def acknowledge(self, token: str, alert_id: int, done: Done[bool]) -> None:
        self._run("POST", f"/api/kiosk/staff/alerts/{alert_id}/ack", {}, lambda b: True, done, token=token)

    def admin(self, token: str, done: Done[AdminInfo]) -> None:
        self._run("GET", "/api/kiosk/admin", None, AdminInfo.parse, done, token=token)

    def roster_sync(self, token: str, done: Done[AdminInfo]) -> None:
        self._run("POST", "/api/kiosk/admin/roster-sync", {}, AdminInfo.parse, done, token=token)

    def badge_purpose(self, purpose: str, checkin_id: int | None) -> None:
        self._run("PUT", "/api/kiosk/badge", {"purpose": purpose, "checkin_id": checkin_id}, lambda b: True,
                  lambda r: None)
