"""Assemble a Station from a validated config: the daemon's composition root."""

from __future__ import annotations

import functools
import importlib
import zoneinfo
from typing import Any

from config.model import StationConfig
from station.adapters.calls import CallTimeouts
from station.adapters.registry import AdapterRegistry
from station.core.clocksync import ClockSync, make_clock_sync
from station.core.engine import EngineSettings, Station
from station.core.events import EventBus
from station.crypto.keys import load_signing_key
from station.outbox.deliverer import DeliveryPolicy
from station.outbox.target import VaultTarget
from station.outbox.timewindows import Schedule
from station.outbox.transfer_process import TransferProcess
from station.sources.dock_tracker import SlotMap, SlotPorts
from station.sources.interface import DeviceSource
from station.sources.power import PortPower
from station.sources.simulated import SimulatedDockSource
from station.storage.audit import SYSTEM
from station.storage.journal import Journal
from station.storage.paths import StatePaths, open_audit
from station.storage.store import Store


def _make_target(cfg: StationConfig) -> VaultTarget:
    # The uploader is an edge: imported by name so the core never imports paramiko.
    upload = importlib.import_module("upload")
    if cfg.vault.target in ("sftp", "s3") and cfg.vault.upload.separate_process:
        # The transfers' CPU work on a core of its own (station/outbox/transfer_process.py).
        return TransferProcess(functools.partial(upload.make_target, cfg.vault))
    target: VaultTarget = upload.make_target(cfg.vault)
    return target


def _make_source(cfg: StationConfig, adapters: AdapterRegistry) -> DeviceSource:
    slot_ids = {s.id for s in cfg.slots}
    if cfg.dock.source == "simulated":
        assert cfg.dock.simulated_path is not None
        return SimulatedDockSource(cfg.dock.simulated_path, slot_ids)
    if cfg.dock.source == "udev":
        from station.sources.udev import UdevSource  # pyudev only where udev is used

        return UdevSource(
            SlotMap(SlotPorts(s.id, s.usb_ports) for s in cfg.slots),
            adapters,
            readiness_timeout_s=cfg.dock.readiness_timeout_s,
            debounce_s=cfg.dock.debounce_ms / 1000,
        )
    raise ValueError(f"dock source {cfg.dock.source!r} is not available in this build")


def make_power(cfg: StationConfig) -> PortPower | None:
    ports = {s.id: (s.uhubctl.hub, s.uhubctl.port) for s in cfg.slots if s.uhubctl is not None}
    return PortPower(ports, command=cfg.dock.uhubctl_command) if ports else None


def make_adapters(cfg: StationConfig, power: PortPower | None = None) -> AdapterRegistry:
    options: dict[str, dict[str, Any]] = {name: dict(opts) for name, opts in cfg.adapters.options.items()}
    if cfg.dock.simulated_path is not None:
        options.setdefault("simulated", {})["dock_dir"] = cfg.dock.simulated_path
    a = cfg.adapters

    def hung(slot_id: int, what: str) -> None:
        if power is not None:
            power.cycle(slot_id, f"{what} hung")

    return AdapterRegistry(
        options,
        timeouts=CallTimeouts(call_s=a.call_timeout_s, list_s=a.list_timeout_s, read_s=a.read_timeout_s,
                              wipe_s=a.wipe_timeout_s),
        on_hang=hung,
        context={"station_timezone": cfg.station.timezone},
    )


def delivery_policy(cfg: StationConfig) -> DeliveryPolicy:
    up = cfg.vault.upload
    return DeliveryPolicy(
        parallel=up.parallel,
        bandwidth_bytes_per_s=up.bandwidth_mbit * 1e6 / 8 if up.bandwidth_mbit else None,
        schedule=Schedule.parse(up.windows, zoneinfo.ZoneInfo(cfg.station.timezone)),
        retry_initial_s=up.retry_initial_s,
        retry_max_s=up.retry_max_s,
        audit_segment_s=up.audit_segment_minutes * 60,
    )


def build_station(
    cfg: StationConfig,
    *,
    source: DeviceSource | None = None,
    target: VaultTarget | None = None,
    clock: ClockSync | None = None,
    events: EventBus | None = None,
) -> Station:
    paths = StatePaths.of(cfg.state_dir)
    journal = Journal(paths.journal)
    audit = open_audit(journal, paths.audit)
    power = make_power(cfg)
    adapters = make_adapters(cfg, power)
    p = cfg.policies
    settings = EngineSettings(
        station_id=cfg.station.id,
        slot_ids=tuple(s.id for s in cfg.slots),
        verify_policy=p.verify,
        wipe_after=p.wipe_after,
        min_battery_percent=p.min_battery_percent,
        max_parallel_offloads=p.max_parallel_offloads,
        chunk_size=p.chunk_kib * 1024,
        recipients=cfg.vault.recipients,
        max_parallel_per_controller=p.max_parallel_per_controller,
        store_readback=p.store_readback,
        slot_controllers=tuple((s.id, s.usb_ports[0].split("-")[0]) for s in cfg.slots),
        delivery=delivery_policy(cfg),
        release_timeout_s=cfg.checkout.release_timeout_s,
        retention_days=p.retention_days,
    )
    station = Station(
        settings=settings,
        journal=journal,
        audit=audit,
        store=Store(cfg.store.path, cfg.store.reserve_bytes),
        source=source or _make_source(cfg, adapters),
        target=target or _make_target(cfg),
        adapters=adapters,
        signing_key=load_signing_key(cfg.keys.signing_key),
        events=events,
        clock=clock if clock is not None else make_clock_sync(cfg.checkout.clock_sync),
    )
    if power is not None:

        def report(slot_id: int, text: str) -> None:
            station.audit.append(who=SYSTEM, what="slot.power_cycle", why=text, device=f"slot {slot_id}",
                                 result="ok" if text.startswith("power-cycled") else "failed",
                                 details={"slot": slot_id})

        power.report = report
    return station
