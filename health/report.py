"""The health report: checks plus the state staff look at (slots, backlog, alerts), as JSON.

``public=True`` is the LAN view: no footage, no wearer identity, and people only as initials.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from health import fmt, texts
from health.facts import Facts, SlotFacts
from health.model import CheckResult, Status, worst
from station.storage.journal import AlertRow
from station.timeutil import iso


@dataclass(frozen=True)
class HealthReport:
    station_id: str
    station_name: str
    version: str
    facts: Facts
    checks: tuple[CheckResult, ...]

    @property
    def status(self) -> Status:
        """The dock's headline: the worst measured check (unknown ones do not count) or open
        alert that staff have not acknowledged yet (e.g. a slot fault the engine raised)."""
        from_alerts = [Status.CRITICAL if a.severity == "critical" else Status.WARN
                       for a in self.facts.alerts if a.acked_at is None]
        return worst([*(c.status for c in self.checks if c.status is not Status.UNKNOWN), *from_alerts])

    def check(self, name: str) -> CheckResult:
        return next(c for c in self.checks if c.name == name)


def _check_json(c: CheckResult) -> dict[str, Any]:
    # code/params/items are the result as data; "text" is it in words per language, from the one
    # table (health.texts), so the kiosk shows what the status page shows.
    text = {}
    for lang in texts.LANGUAGES:
        summary, action = c.text(lang)
        text[lang] = {"title": texts.title(c.name, lang), "summary": summary, "action": action}
    return {"name": c.name, "title": c.title, "status": c.status.value, "summary": c.summary, "action": c.action,
            "facts": dict(c.facts), "code": c.code, "params": dict(c.params), "items": [dict(i) for i in c.items],
            "text": text}


def slot_json(s: SlotFacts, at: Any) -> dict[str, Any]:
    return {
        "id": s.id, "label": s.label, "state": s.state,
        "since": iso(s.since) if s.since else None,
        "state_age_s": round((at - s.since).total_seconds(), 1) if s.since else None,
        "camera_serial": s.camera_serial, "model": s.model,
        "battery_percent": s.battery_percent, "battery_health_percent": s.battery_health_percent,
        "busy": s.busy, "notice": s.notice, "fault_reason": s.fault_reason,
        "progress": {"recordings_done": s.recordings_done, "recordings_total": s.recordings_total,
                     "bytes_done": s.bytes_done, "bytes_total": s.bytes_total},
    }


def alert_json(a: AlertRow, *, public: bool) -> dict[str, Any]:
    return {"id": a.id, "key": a.key, "severity": a.severity, "message": a.message, "raised_at": a.raised_at,
            "last_seen": a.last_seen, "acknowledged": a.acked_at is not None,
            "acked_by": fmt.initials(a.acked_by) if public else a.acked_by, "acked_at": a.acked_at}


def report_json(r: HealthReport, *, public: bool) -> dict[str, Any]:
    f = r.facts
    backlog = None if f.backlog is None else {
        "recordings": f.backlog.recordings, "bytes": f.backlog.bytes, "oldest_age_s": f.backlog.oldest_age_s}
    return {
        "station": {"id": r.station_id, "name": r.station_name, "version": r.version},
        "generated_at": iso(f.at),
        "live": f.live,
        "status": r.status.value,
        "checks": [_check_json(c) for c in r.checks],
        "slots": [slot_json(s, f.at) for s in f.slots],
        "backlog": backlog,
        "alerts": [alert_json(a, public=public) for a in f.alerts],
    }
