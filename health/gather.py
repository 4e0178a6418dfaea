"""Gather the facts: from the running station (live) or from its files alone (offline).

Each part is gathered on its own, so one broken source (a corrupt journal, a missing sensor)
makes its own checks say so and leaves the others working.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar

from config.model import StationConfig
from health.clock import ClockProvider, provider_for
from health.facts import AuditFacts, BacklogFacts, Facts, JournalFacts, KeyFacts, SlotFacts, VaultFacts
from health.queries import AdapterStats, JournalReader, SlotRecord, Totals
from health.system import (
    PROC_LOADAVG,
    PROC_MEMINFO,
    THERMAL_ROOT,
    read_disk,
    read_load,
    read_memory,
    read_thermal,
)
from station.core.engine import SlotView, Station
from station.crypto.keys import KeyFileError, check_secret_file
from station.storage.audit import verify_chain
from station.storage.journal import AlertRow
from station.storage.paths import StatePaths
from station.timeutil import utcnow

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Probes:
    """Where the machine is read; tests hand in prepared files and a stand-in clock tool."""

    clock: ClockProvider | None = None  # None: from health.clock.source
    thermal_root: Path = THERMAL_ROOT
    loadavg: Path = PROC_LOADAVG
    meminfo: Path = PROC_MEMINFO
    cpus: int | None = None


def _guard(what: str, fn: Callable[[], T], default: T) -> T:
    try:
        return fn()
    except Exception as exc:  # one broken source must not take the whole report down
        log.warning("health: could not read %s: %s", what, exc)
        return default


def vault_description(cfg: StationConfig) -> str:
    v = cfg.vault
    if v.target == "sftp" and v.sftp is not None:
        return f"sftp {v.sftp.host}:{v.sftp.port}"
    return f"local folder {v.local_path}"


def key_facts(cfg: StationConfig) -> tuple[KeyFacts, ...]:
    files = [("station signing key", cfg.keys.signing_key)]
    if cfg.vault.target == "sftp" and cfg.vault.sftp is not None:
        files.append(("vault SSH key", cfg.vault.sftp.private_key))
    if cfg.health.http is not None:
        files.append(("status page secret", cfg.health.http.auth.secret_file))
    out = []
    for name, path in files:
        try:
            check_secret_file(path)
            problem = None
        except KeyFileError as exc:
            problem = exc.reason
        out.append(KeyFacts(name, str(path), problem))
    return tuple(out)


def audit_facts(audit_path: Path, reader: JournalReader) -> AuditFacts:
    """Verify the chain against the journal's anchor.

    The live station appends while we read: the anchor read before the file may then trail the
    file by more than the one entry verify_chain allows. A real break fails every time; a race
    does not, so a failure is re-checked before it is believed.
    """
    result = None
    for attempt in range(3):
        result = verify_chain(audit_path, reader.anchor())
        if result.ok:
            break
        time.sleep(0.05 * (attempt + 1))
    assert result is not None
    return AuditFacts(result.ok, result.entries, result.problem, utcnow())


def _slot_facts(cfg: StationConfig, records: list[SlotRecord], views: list[SlotView] | None,
                progress: dict[int, datetime]) -> tuple[SlotFacts, ...]:
    labels = {s.id: s.label for s in cfg.slots}
    by_id = {r.id: r for r in records}
    out = []
    for sid in labels:
        rec = by_id.get(sid)
        view = next((v for v in views if v.id == sid), None) if views is not None else None
        state = view.state if view else rec.state if rec else "unknown"
        # The journal's ``since`` belongs to its state; if the view has moved on, it just changed.
        since = rec.since if rec and rec.state == state else utcnow()
        if view is None:
            out.append(SlotFacts(sid, labels[sid], state, since,
                                 camera_serial=rec.camera_serial if rec else None,
                                 fault_reason=rec.fault_reason if rec else None))
            continue
        out.append(SlotFacts(
            sid, labels[sid], state, since, camera_serial=view.camera_serial, model=view.model,
            battery_percent=view.battery, battery_health_percent=view.battery_health, busy=view.busy,
            notice=view.notice, fault_reason=view.fault_reason, recordings_done=view.recordings_done,
            recordings_total=view.recordings_total, bytes_done=view.bytes_done, bytes_total=view.bytes_total,
            progress_at=progress.get(sid),
        ))
    return tuple(out)


@dataclass
class Integrity:
    """The expensive checks (whole-file reads), run every ``integrity_interval_s``."""

    audit: AuditFacts | None = None
    journal: JournalFacts | None = None
    due: float = 0.0


@dataclass
class Gatherer:
    cfg: StationConfig
    probes: Probes = field(default_factory=Probes)

    def __post_init__(self) -> None:
        paths = StatePaths.of(self.cfg.state_dir)
        self.audit_path = paths.audit
        self.reader = JournalReader(paths.journal)
        self.clock = self.probes.clock or provider_for(self.cfg.health.clock.source)
        self.integrity = Integrity()
        self._progress_key: dict[int, tuple[int, int]] = {}
        self._progress_at: dict[int, datetime] = {}

    def _track_progress(self, views: list[SlotView], now: datetime) -> dict[int, datetime]:
        """Remember when each offloading slot last moved, so a long but moving offload is not stuck."""
        for v in views:
            key = (v.recordings_done, v.bytes_done)
            if v.state != "offloading":
                self._progress_key.pop(v.id, None)
                self._progress_at.pop(v.id, None)
            elif self._progress_key.get(v.id) != key:
                if v.id in self._progress_key:
                    self._progress_at[v.id] = now
                self._progress_key[v.id] = key
        return dict(self._progress_at)

    def _integrity(self, force: bool) -> Integrity:
        now = time.monotonic()
        if force or now >= self.integrity.due:
            self.integrity.audit = _guard("audit log", lambda: audit_facts(self.audit_path, self.reader), None)
            ok = _guard("journal", self.reader.integrity_ok, False)
            self.integrity.journal = JournalFacts(ok, utcnow())
            self.integrity.due = now + self.cfg.health.integrity_interval_s
        return self.integrity

    def gather(self, station: Station | None, *, started: datetime | None = None,
               force_integrity: bool = False) -> Facts:
        """Facts from the running ``station``, or offline from the files when it is None."""
        cfg, now = self.cfg, utcnow()
        records: list[SlotRecord] = _guard("slots", self.reader.slots, [])
        views = station.views() if station is not None else None
        progress = self._track_progress(views, now) if views is not None else {}
        backlog_rec = _guard("backlog", self.reader.backlog, None)
        backlog = None
        if station is not None:
            count, size, age = station.deliverer.backlog()
            backlog = BacklogFacts(count, size, age)
        elif backlog_rec is not None:
            age = (now - backlog_rec.oldest_discovered).total_seconds() if backlog_rec.oldest_discovered else None
            backlog = BacklogFacts(backlog_rec.recordings, backlog_rec.bytes, age)
        vault = None
        if station is not None:
            d = station.deliverer
            last = datetime.fromtimestamp(d.last_success, now.tzinfo) if d.last_success else None
            waiting = None
            if backlog is not None and backlog.recordings:
                oldest = now - timedelta(seconds=backlog.oldest_age_s or 0.0)
                waiting = max(a for a in (last, started, oldest) if a is not None)
            vault = VaultFacts(vault_description(cfg), last, d.last_error, waiting)
        window_start = now - timedelta(seconds=cfg.health.adapters.window_s)
        adapters: list[AdapterStats] = _guard("adapter statistics", lambda: self.reader.adapter_stats(window_start), [])
        totals: Totals | None = _guard("totals", self.reader.totals, None)
        alerts: list[AlertRow] = (station.alerts.open() if station is not None
                                  else _guard("alerts", self.reader.open_alerts, []))
        integrity = self._integrity(force_integrity)
        audit = integrity.audit
        if audit is not None:
            # The chain check is hourly; the anchor (the newest entry's number) is cheap to read now.
            anchor = _guard("audit anchor", self.reader.anchor, None)
            audit = replace(audit, entries_now=anchor[0] if anchor else None)
        return Facts(
            at=now,
            live=station is not None,
            slots=_slot_facts(cfg, records, views, progress),
            store=read_disk(cfg.store.path),
            store_reserve_bytes=cfg.store.reserve_bytes,
            backlog=backlog,
            vault=vault,
            clock=self.clock(),
            thermal=read_thermal(self.probes.thermal_root),
            load=read_load(self.probes.loadavg, self.probes.cpus),
            memory=read_memory(self.probes.meminfo),
            adapters=tuple(adapters),
            keys=key_facts(cfg),
            audit=audit,
            journal=integrity.journal,
            core_loop_age_s=time.monotonic() - station.last_loop if station is not None else None,
            totals=totals,
            alerts=tuple(alerts),
        )
