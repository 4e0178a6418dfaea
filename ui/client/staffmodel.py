"""Wire models of the staff and admin screens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ui.client.model import Alert, _int, _list, _obj, _str


@dataclass(frozen=True)
class Check:
    name: str  # stable id; the kiosk translates the title by it
    title: str  # English fallback
    status: str  # ok | warn | critical | unknown
    summary: str  # English detail (staff read it as the daemon wrote it)
    action: str = ""

    @classmethod
    def parse(cls, d: Any) -> Check:
        o = _obj(d)
        return cls(name=_str(o.get("name")) or "", title=_str(o.get("title")) or "",
                   status=_str(o.get("status")) or "unknown", summary=_str(o.get("summary")) or "",
                   action=_str(o.get("action")) or "")


@dataclass(frozen=True)
class HealthInfo:
    status: str
    checks: tuple[Check, ...]
    alerts: tuple[Alert, ...]
    backlog_recordings: int | None = None
    backlog_bytes: int | None = None

    @classmethod
    def parse(cls, d: Any) -> HealthInfo:
        o = _obj(d)
        b = _obj(o.get("backlog"))
        return cls(status=_str(o.get("status")) or "unknown",
                   checks=tuple(Check.parse(c) for c in _list(o.get("checks"))),
                   alerts=tuple(Alert.parse(a) for a in _list(o.get("alerts"))),
                   backlog_recordings=_int(b.get("recordings")), backlog_bytes=_int(b.get("bytes")))


@dataclass(frozen=True)
class RosterInfo:
    source: str = ""
    officers: int = 0
    sha256: str = ""
    problem: str | None = None

    @classmethod
    def parse(cls, d: Any) -> RosterInfo:
        o = _obj(d)
        return cls(source=_str(o.get("source")) or "", officers=_int(o.get("officers")) or 0,
                   sha256=_str(o.get("sha256")) or "", problem=_str(o.get("problem")))


@dataclass(frozen=True)
class AdminInfo:
    version: str
    config: tuple[tuple[str, str], ...]  # (key, value) as the daemon summarises its config
    roster: RosterInfo
    message: str | None = None  # e.g. the outcome of a roster sync

    @classmethod
    def parse(cls, d: Any) -> AdminInfo:
        o = _obj(d)
        pairs = tuple((str(p[0]), str(p[1])) for p in _list(o.get("config"))
                      if isinstance(p, list) and len(p) == 2)
        return cls(version=_str(o.get("version")) or "", config=pairs, roster=RosterInfo.parse(o.get("roster")),
                   message=_str(o.get("message")))
