"""What a health check says: a status, what is wrong and what to do, and the measured facts."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

Fact = float | int | str | bool | None


class Status(enum.StrEnum):
    OK = "ok"
    WARN = "warn"
    CRITICAL = "critical"
    UNKNOWN = "unknown"  # could not be measured (e.g. no sensor); never an alert by itself

    @property
    def metric_value(self) -> int:
        """``bodydock_check_status``: 0 ok, 1 warn, 2 critical, -1 unknown."""
        return {"ok": 0, "warn": 1, "critical": 2, "unknown": -1}[self.value]

    @property
    def rank(self) -> int:
        # Unknown sorts between ok and warn: worth a look, not an alarm.
        return {"ok": 0, "unknown": 1, "warn": 2, "critical": 3}[self.value]


def worst(statuses: Iterable[Status]) -> Status:
    return max(statuses, key=lambda s: s.rank, default=Status.OK)


@dataclass(frozen=True)
class CheckResult:
    name: str  # stable identifier: metric label, alert key, API field
    title: str  # short English label; the kiosk translates by ``name``
    status: Status
    summary: str  # what is the case (what is wrong, when it is not ok)
    action: str = ""  # what staff should do; empty when nothing is needed
    facts: Mapping[str, Fact] = field(default_factory=dict)


def ok(name: str, title: str, summary: str, **facts: Fact) -> CheckResult:
    return CheckResult(name, title, Status.OK, summary, "", facts)


def unknown(name: str, title: str, summary: str, action: str = "", **facts: Fact) -> CheckResult:
    return CheckResult(name, title, Status.UNKNOWN, summary, action, facts)


def graded(value: float, warn: float | None, critical: float | None, *, lower_is_worse: bool = False) -> Status:
    """OK, WARN or CRITICAL for ``value`` against thresholds (None: that threshold is off)."""
    def past(limit: float | None) -> bool:
        if limit is None:
            return False
        return value < limit if lower_is_worse else value >= limit

    if past(critical):
        return Status.CRITICAL
    if past(warn):
        return Status.WARN
    return Status.OK
