"""Alerts for staff: raised by any part of the station, acknowledged by staff, cleared when the
condition is gone. Kept in the journal so they survive restarts; every change is audited."""

from __future__ import annotations

import enum
import logging

from station.storage.audit import SYSTEM, AuditLog
from station.storage.journal import AlertRow, Journal

log = logging.getLogger(__name__)


class Severity(enum.StrEnum):
    WARN = "warn"
    CRITICAL = "critical"


class Alerts:
    def __init__(self, journal: Journal, audit: AuditLog) -> None:
        self.journal, self.audit = journal, audit

    def raise_(self, key: str, severity: Severity, message: str) -> None:
        if self.journal.raise_alert(key, severity.value, message):
            log.warning("alert %s (%s): %s", key, severity, message)
            self.audit.append(who=SYSTEM, what="alert.raised", why=message, device=key, result=severity.value)

    def clear(self, key: str, why: str = "condition resolved") -> None:
        if self.journal.clear_alert(key):
            log.info("alert %s cleared: %s", key, why)
            self.audit.append(who=SYSTEM, what="alert.cleared", why=why, device=key)

    def acknowledge(self, alert_id: int, who: str) -> bool:
        ok = self.journal.ack_alert(alert_id, who)
        if ok:
            self.audit.append(who=who, what="alert.acknowledged", why="staff acknowledged", device=str(alert_id))
        return ok

    def open(self) -> list[AlertRow]:
        return self.journal.open_alerts()
