"""The kiosk API's vocabulary: refusal codes (the kiosk translates them; the English detail is for
logs and staff), banner kinds for alerts, and tag requests as the kiosk sends them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from station.shift import (
    AuthFailed,
    Consent,
    ConsentMethod,
    LockedOutError,
    NotAllowed,
    NotFound,
    ShiftError,
    Tag,
    TagError,
    TagRequest,
)
from station.timeutil import iso


class KioskRefusal(Exception):
    def __init__(self, code: str, message: str = "", *, status: int = 409, until: datetime | None = None) -> None:
        super().__init__(message or code)
        self.code, self.message, self.status, self.until = code, message, status, until

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.until is not None:
            out["until"] = iso(self.until)
        return out


def alert_kind(key: str) -> tuple[str, int | None]:
    """Which banner an alert is (the kiosk translates by kind); the English message goes along."""
    head, _, tail = key.partition(":")
    if key in ("vault-unreachable", "health:vault"):
        return "vault_offline", None
    if head.startswith("vault-"):
        return "vault_problem", None
    if key == "health:store" or key == "vault-full":
        return "storage_low", None
    if key == "health:backlog":
        return "backlog", None
    if key == "health:clock":
        return "clock", None
    if head == "slot-fault":
        return "slot_fault", int(tail) if tail.isdigit() else None
    if head == "undocked-unassigned":
        return "taken_without_checkout", None
    if head in ("unmapped-port", "health:slots", "health:adapters", "health:battery"):
        return "dock_hardware", None
    return "other", None


def checkout_code(exc: ShiftError) -> tuple[str, datetime | None]:
    """The shift service's refusal as a code. Its messages are meant for people; these patterns
    are pinned by the kiosk API tests, so a reworded message shows up as a failing test."""
    if isinstance(exc, LockedOutError):
        return "locked_out", exc.until
    if isinstance(exc, AuthFailed):
        return ("unknown_badge" if "badge" in str(exc) else "bad_credentials"), None
    if isinstance(exc, NotAllowed):
        return "not_allowed", None
    if isinstance(exc, NotFound):
        return "not_found", None
    text = str(exc)
    for needle, code in (("clock", "clock_unsynchronised"), ("still checked out to you", "already_out"),
                         ("personal camera", "no_personal_camera"), ("your camera", "no_personal_camera"),
                         ("no camera", "no_camera"), ("no ready camera", "no_camera"),
                         ("did not answer", "camera_unavailable"), ("unavailable", "camera_unavailable"),
                         ("has no camera ready", "busy")):
        if needle in text:
            return code, None
    return "failed", None


def tag_request(body: Mapping[str, Any]) -> TagRequest:
    try:
        tag = Tag(str(body.get("tag")))
    except ValueError:
        raise TagError("tag is evidence, learning or uncategorised") from None
    consent = None
    c = body.get("consent")
    if isinstance(c, Mapping):
        try:
            consent = Consent(given=c.get("given") is True, method=ConsentMethod(str(c.get("method"))))
        except ValueError:
            raise TagError("consent method is verbal, written, on_camera or not_asked") from None
    case = body.get("case_number")
    return TagRequest(tag, case_number=case if isinstance(case, str) else None, consent=consent)
