"""Everything the checks look at, gathered in one pass so every check sees the same moment.

A field is None when it could not be measured (the checks then say "unknown"): e.g. vault
contact and live slot progress exist only inside the running daemon, not for an offline
``bodydock status``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from health.clock import ClockReading
from health.queries import AdapterStats, Totals
from health.system import DiskReading, LoadReading, MemoryReading, ThermalReading
from station.storage.journal import AlertRow


@dataclass(frozen=True)
class SlotFacts:
    id: int
    label: str
    state: str
    since: datetime | None  # entered this state (journal)
    camera_serial: str | None = None
    model: str | None = None
    battery_percent: int | None = None
    battery_health_percent: int | None = None
    busy: str | None = None
    notice: str | None = None
    fault_reason: str | None = None
    recordings_done: int = 0
    recordings_total: int = 0
    bytes_done: int = 0
    bytes_total: int = 0
    progress_at: datetime | None = None  # the last time offload progress moved (live only)


@dataclass(frozen=True)
class BacklogFacts:
    recordings: int
    bytes: int
    oldest_age_s: float | None


@dataclass(frozen=True)
class VaultFacts:
    target: str
    last_success: datetime | None
    last_error: str | None
    # Since when the vault should have been reached: the later of the last success, the daemon's
    # start and the oldest waiting recording. None when nothing is waiting.
    waiting_since: datetime | None


@dataclass(frozen=True)
class KeyFacts:
    name: str  # what the file is for, e.g. "station signing key"
    path: str
    problem: str | None  # None: present, a regular file, mode without group/other bits


@dataclass(frozen=True)
class AuditFacts:
    ok: bool
    entries: int  # entries the last chain check read
    problem: str
    checked_at: datetime
    entries_now: int | None = None  # entries the log holds now (the journal's anchor), read at each gathering


@dataclass(frozen=True)
class JournalFacts:
    ok: bool
    checked_at: datetime


@dataclass(frozen=True)
class Facts:
    at: datetime
    live: bool  # gathered inside the running daemon
    slots: tuple[SlotFacts, ...]
    store: DiskReading
    store_reserve_bytes: int
    backlog: BacklogFacts | None
    vault: VaultFacts | None
    clock: ClockReading
    thermal: ThermalReading | None
    load: LoadReading | None
    memory: MemoryReading | None
    adapters: tuple[AdapterStats, ...]
    keys: tuple[KeyFacts, ...]
    audit: AuditFacts | None
    journal: JournalFacts | None
    core_loop_age_s: float | None
    totals: Totals | None
    alerts: tuple[AlertRow, ...]
