"""What a health check says: a status, what is wrong and what to do, and the measured facts."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from health import texts

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
    title: str  # short English label (``health.texts.title`` has it per language)
    status: Status
    summary: str  # what is the case (what is wrong, when it is not ok), English, from ``code``
    action: str = ""  # what staff should do; empty when nothing is needed
    facts: Mapping[str, Fact] = field(default_factory=dict)
    # What the summary and action say, as data: ``health.texts`` renders them per language.
    code: str = ""
    params: Mapping[str, Fact] = field(default_factory=dict)
    items: tuple[Mapping[str, Fact], ...] = ()  # one per listed thing (a stuck slot, a worn battery)

    def text(self, lang: str) -> tuple[str, str]:
        """(summary, action) in ``lang``; the English fields as written when there is no code."""
        if not self.code:
            return self.summary, self.action
        return texts.render(self.code, self.params, self.items, lang)


def result(name: str, status: Status, code: str, params: Mapping[str, Fact] | None = None, *,
           items: Iterable[Mapping[str, Fact]] = (), facts: Mapping[str, Fact] | None = None) -> CheckResult:
    """A result from its code and params; the English summary and action come from the table."""
    params, items = dict(params or {}), tuple(items)
    summary, action = texts.render(code, params, items, "en")
    return CheckResult(name, texts.title(name), status, summary, action, dict(facts or {}), code, params, items)


def ok(name: str, code: str, params: Mapping[str, Fact] | None = None, /, **facts: Fact) -> CheckResult:
    return result(name, Status.OK, code, params, facts=facts)


def unknown(name: str, code: str, params: Mapping[str, Fact] | None = None, /, **facts: Fact) -> CheckResult:
    return result(name, Status.UNKNOWN, code, params, facts=facts)


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
