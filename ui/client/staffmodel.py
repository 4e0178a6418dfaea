"""Wire models of the staff and admin screens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ui.client.model import Alert, _int, _list, _obj, _str


@dataclass(frozen=True)
class CheckText:
    title: str
    summary: str
    action: str = ""


@dataclass(frozen=True)
class Check:
    name: str  # stable id; the kiosk translates the title by it
    title: str  # English fallback
    status: str  # ok | warn | critical | unknown
    summary: str  # English detail (for a daemon that sends no translations)
    action: str = ""
    code: str = ""  # what the result says, as data (the daemon renders it per language)
    # language -> the result in words: the daemon renders code + params from the one table the
    # status page uses too, so the kiosk and the page never say different things.
    text: tuple[tuple[str, CheckText], ...] = ()

    def words(self, language: str) -> CheckText:
        found = dict(self.text).get(language)
        return found if found is not None else CheckText(self.title, self.summary, self.action)

    @classmethod
    def parse(cls, d: Any) -> Check:
        o = _obj(d)
        texts = tuple((lang, CheckText(_str(_obj(t).get("title")) or "", _str(_obj(t).get("summary")) or "",
                                       _str(_obj(t).get("action")) or ""))
                      for lang, t in _obj(o.get("text")).items() if isinstance(lang, str))
        return cls(name=_str(o.get("name")) or "", title=_str(o.get("title")) or "",
                   status=_str(o.get("status")) or "unknown", summary=_str(o.get("summary")) or "",
                   action=_str(o.get("action")) or "", code=_str(o.get("code")) or "", text=texts)


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
