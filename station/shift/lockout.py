"""Wrong-PIN lockout per personnel number, kept in the journal so a restart does not reset it.

``attempts`` wrong PINs within ``minutes`` lock that personnel number for ``minutes``. Counted
per number as typed (known or not), so the lockout does not reveal which numbers exist.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from station.storage.journal import Journal
from station.storage.shift_journal import PinRecord
from station.timeutil import iso, parse_iso, utcnow


@dataclass(frozen=True)
class LockoutPolicy:
    attempts: int = 5
    minutes: float = 15.0


@dataclass(frozen=True)
class Failure:
    failures: int
    locked_until: datetime | None  # set when this failure locked the number


class PinLockout:
    def __init__(self, journal: Journal, policy: LockoutPolicy, now: Callable[[], datetime] = utcnow) -> None:
        self.journal, self.policy, self._now = journal, policy, now
        self._lock = threading.Lock()

    @property
    def _window(self) -> timedelta:
        return timedelta(minutes=self.policy.minutes)

    def locked_until(self, personnel_number: str) -> datetime | None:
        rec = self.journal.shift.pin_record(personnel_number)
        if rec is None or rec.locked_until is None:
            return None
        until = parse_iso(rec.locked_until)
        return until if until > self._now() else None

    def failure(self, personnel_number: str) -> Failure:
        with self._lock:
            now = self._now()
            rec = self.journal.shift.pin_record(personnel_number)
            stale = rec is None or now - parse_iso(rec.first_failure_at) > self._window or (
                rec.locked_until is not None and parse_iso(rec.locked_until) <= now)
            failures = 1 if stale or rec is None else rec.failures + 1
            first = iso(now) if stale or rec is None else rec.first_failure_at
            until = now + self._window if failures >= self.policy.attempts else None
            self.journal.shift.save_pin_record(
                PinRecord(personnel_number, failures, first, iso(until) if until else None), personnel_number)
            return Failure(failures, until)

    def success(self, personnel_number: str) -> None:
        with self._lock:
            if self.journal.shift.pin_record(personnel_number) is not None:
                self.journal.shift.save_pin_record(None, personnel_number)
