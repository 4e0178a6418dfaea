"""Wire the shift flows into the daemon: roster, the domain service, badge reader, control socket.

``start()`` before ``Station.start()`` (so no docking is missed), ``serve()`` after it (the
control socket and badge reader act through the running core), ``stop()`` before
``Station.stop()``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bodydock.control import ControlServer, socket_path
from config.model import StationConfig
from device_adapters.api import RecordingSetting
from station.core.alerts import Severity
from station.core.engine import Station
from station.crypto.keys import parse_public_key_text
from station.shift import LockoutPolicy, ShiftError, ShiftService, ShiftSettings
from station.shift.badge import BadgeReader, EvdevBadgeReader, NoBadgeReader, badge_hint
from station.shift.roster import (
    EMPTY_ROSTER,
    FileRosterSource,
    Roster,
    RosterBytes,
    RosterCache,
    RosterKeeper,
    RosterSource,
    VaultRosterSource,
)
from station.storage.audit import SYSTEM
from station.storage.journal import Journal

log = logging.getLogger(__name__)

ROSTER_ALERT = "roster"


class JournalRosterCache(RosterCache):
    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def load_roster(self) -> RosterBytes | None:
        cached = self.journal.shift.roster_cache()
        return None if cached is None else RosterBytes(cached[1], cached[2], cached[0])

    def save_roster(self, raw: RosterBytes, sha256: str) -> None:
        self.journal.shift.save_roster_cache(raw.source, sha256, raw.data, raw.signature)


def _local_vault_reader(root: Path) -> Callable[[str], bytes]:
    def read(rel: str) -> bytes:
        path = (root / rel).resolve()
        if not path.is_relative_to(root.resolve()):
            raise ValueError(f"{rel} is outside the vault")
        return path.read_bytes()

    return read


def roster_source(cfg: StationConfig) -> RosterSource | None:
    r = cfg.roster
    if r is None:
        return None
    if r.source == "file":
        assert r.file is not None
        return FileRosterSource(r.file)
    assert r.vault_path is not None and r.public_key is not None and cfg.vault.local_path is not None
    return VaultRosterSource(_local_vault_reader(cfg.vault.local_path), r.vault_path,
                             parse_public_key_text(r.public_key))


def shift_settings(cfg: StationConfig) -> ShiftSettings:
    c = cfg.checkout
    rp = c.recording_policy
    policy = {
        RecordingSetting.PREBUFFER_S.value: str(rp.prebuffer_s),
        RecordingSetting.PREBUFFER_AUDIO.value: "true" if rp.prebuffer_audio else "false",
        RecordingSetting.WARNING_TONE.value: "true" if rp.warning_tone else "false",
        RecordingSetting.WARNING_LED.value: "true" if rp.warning_led else "false",
    }
    return ShiftSettings(
        policy=c.policy, min_battery_percent=cfg.policies.min_battery_percent,
        firmware_current={r.model: r.version for r in c.firmware_current}, recording_policy=policy,
        lockout=LockoutPolicy(c.pin_lockout.attempts, c.pin_lockout.minutes), locate=c.locate,
        checkin_timeout_s=c.checkin_timeout_minutes * 60,
    )


@dataclass
class ShiftRuntime:
    station: Station
    shift: ShiftService
    roster: RosterKeeper | None
    control: ControlServer
    badge: BadgeReader
    # The kiosk's local API takes badge reads over while it runs (check-in and staff sign-in too).
    badge_handler: Callable[[str], None] | None = None

    def start(self) -> None:
        if self.roster is not None:
            self.roster.start()
        else:
            log.warning("no roster configured: nobody can check out a camera")
        self.shift.start()

    def serve(self) -> None:
        self.control.start()
        self.badge.start(self._on_badge)

    def stop(self) -> None:
        self.badge.stop()
        self.control.stop()
        self.shift.stop()
        if self.roster is not None:
            self.roster.stop()

    def _on_badge(self, uid: str) -> None:
        """A badge at the reader: check out a camera for its holder (the kiosk may change this)."""
        if self.badge_handler is not None:
            self.badge_handler(uid)
            return
        try:
            got = self.shift.checkout_by_badge(uid)
            log.info("badge %s: camera %s in slot %s", badge_hint(uid), got.camera_serial, got.slot_id)
        except ShiftError as exc:
            log.info("badge %s: %s", badge_hint(uid), exc)  # audited and published by the service


def build_shift(cfg: StationConfig, station: Station) -> ShiftRuntime:
    source = roster_source(cfg)
    keeper: RosterKeeper | None = None
    if source is not None:
        refresh = cfg.roster.refresh_minutes * 60 if cfg.roster is not None else 900

        def changed(roster: Roster) -> None:
            station.audit.append(who=SYSTEM, what="roster.loaded", why=f"from {roster.source}",
                                 device=station.settings.station_id,
                                 details={"sha256": roster.sha256, "officers": len(roster.officers)})

        def problem(message: str | None) -> None:
            if message is None:
                station.alerts.clear(ROSTER_ALERT, "roster loaded")
            else:
                station.alerts.raise_(ROSTER_ALERT, Severity.WARN, f"roster not refreshed: {message}")

        keeper = RosterKeeper(source, cache=JournalRosterCache(station.journal), refresh_s=refresh,
                              on_change=changed, on_problem=problem)
    current: Callable[[], Roster] = keeper.current if keeper is not None else (lambda: EMPTY_ROSTER)
    shift = ShiftService(station, current, shift_settings(cfg))
    badge_cfg = cfg.checkout.badge
    badge: BadgeReader = NoBadgeReader()
    if badge_cfg.source == "evdev" and badge_cfg.device is not None:
        badge = EvdevBadgeReader(badge_cfg.device)
    control = ControlServer(socket_path(cfg.state_dir), shift)
    return ShiftRuntime(station, shift, keeper, control, badge)
