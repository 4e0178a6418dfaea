"""Prometheus metrics for a fleet of docks, from the monitor's latest report.

Series (documented in docs/health.md; the Grafana dashboard in docs/grafana/ uses them). No
series carries a wearer: the dock keeps no per-wearer statistics. Counters come from the
journal, so they survive restarts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from health.checks import CHECK_NAMES
from health.clock import ClockState
from health.report import HealthReport
from station.core.states import SlotState

SEVERITIES = ("warn", "critical")


class HealthCollector(Collector):
    def __init__(self, report: Callable[[], HealthReport], loop_age: Callable[[], float | None]) -> None:
        self._report = report
        self._loop_age = loop_age

    def collect(self) -> Iterator[Metric]:
        r = self._report()
        f = r.facts
        yield _gauge("bodydock_info", "Station identity and software version.", [("station", r.station_id),
                                                                                 ("version", r.version)], 1)
        checks = GaugeMetricFamily("bodydock_check_status", "Health check status: 0 ok, 1 warn, 2 critical, "
                                   "-1 unknown.", labels=["check"])
        by_name = {c.name: c for c in r.checks}
        for name in CHECK_NAMES:
            if name in by_name:
                checks.add_metric([name], by_name[name].status.metric_value)
        yield checks

        state = GaugeMetricFamily("bodydock_slot_state", "1 for the slot's current state, 0 for the others.",
                                  labels=["slot", "state"])
        age = GaugeMetricFamily("bodydock_slot_state_age_seconds", "Seconds the slot has been in its state.",
                                labels=["slot"])
        battery = GaugeMetricFamily("bodydock_slot_battery_percent", "Charge of the docked camera.", labels=["slot"])
        health = GaugeMetricFamily("bodydock_slot_battery_health_percent",
                                   "Battery health of the docked camera, where it reports one.", labels=["slot"])
        for s in f.slots:
            slot = str(s.id)
            for st in SlotState:
                state.add_metric([slot, st.value], 1 if s.state == st.value else 0)
            if s.since is not None:
                age.add_metric([slot], max(0.0, (f.at - s.since).total_seconds()))
            if s.battery_percent is not None:
                battery.add_metric([slot], s.battery_percent)
            if s.battery_health_percent is not None:
                health.add_metric([slot], s.battery_health_percent)
        yield from (state, age, battery, health)

        if f.backlog is not None:
            yield _gauge("bodydock_upload_backlog_recordings", "Recordings waiting for the vault.", [],
                         f.backlog.recordings)
            yield _gauge("bodydock_upload_backlog_bytes", "Bytes waiting for the vault.", [], f.backlog.bytes)
            yield _gauge("bodydock_upload_backlog_oldest_age_seconds",
                         "Age of the oldest recording waiting for the vault; 0 when none waits.", [],
                         f.backlog.oldest_age_s or 0.0)
        if f.vault is not None and f.vault.last_success is not None:
            yield _gauge("bodydock_vault_last_success_timestamp_seconds",
                         "Unix time of the last successful delivery to the vault (since the daemon started).", [],
                         f.vault.last_success.timestamp())
        yield _gauge("bodydock_store_free_bytes", "Free bytes on the store disk.", [], f.store.free_bytes)
        yield _gauge("bodydock_store_size_bytes", "Size of the store disk.", [], f.store.total_bytes)
        yield _gauge("bodydock_store_reserve_bytes", "Free space the store keeps in reserve.", [],
                     f.store_reserve_bytes)

        if f.totals is not None:
            t = f.totals
            yield _counter("bodydock_offload_bytes", "Bytes copied from cameras and verified.", t.offload_bytes)
            yield _counter("bodydock_offload_recordings", "Recordings copied from cameras.", t.offload_recordings)
            yield _counter("bodydock_upload_bytes", "Bytes the vault confirmed.", t.upload_bytes)
            yield _counter("bodydock_upload_recordings", "Recordings the vault confirmed.", t.upload_recordings)
            faults = CounterMetricFamily("bodydock_slot_faults", "Slot faults by camera adapter.", labels=["adapter"])
            for adapter, n in t.faults_by_adapter:
                faults.add_metric([adapter], n)
            yield faults

        alerts = GaugeMetricFamily("bodydock_alerts_open", "Open alerts by severity.", labels=["severity"])
        for sev in SEVERITIES:
            alerts.add_metric([sev], sum(1 for a in f.alerts if a.severity == sev))
        yield alerts

        if isinstance(f.clock, ClockState):
            yield _gauge("bodydock_clock_synchronized", "1 when the system clock is synchronised.", [],
                         1 if f.clock.synchronized else 0)
            if f.clock.offset_s is not None:
                yield _gauge("bodydock_clock_offset_seconds", "Absolute clock offset reported by chrony.", [],
                             f.clock.offset_s)
        if f.thermal is not None:
            yield _gauge("bodydock_cpu_temperature_celsius", "Hottest thermal zone.", [], f.thermal.celsius)
        if f.load is not None:
            yield _gauge("bodydock_load_per_cpu", "5-minute load average per CPU.", [], f.load.per_cpu)
        if f.memory is not None:
            yield _gauge("bodydock_memory_available_bytes", "Available memory.", [], f.memory.available_bytes)
            yield _gauge("bodydock_memory_total_bytes", "Total memory.", [], f.memory.total_bytes)
        loop_age = self._loop_age()
        if loop_age is not None:
            yield _gauge("bodydock_core_loop_age_seconds", "Seconds since the station core loop last ran.", [],
                         loop_age)
        yield _gauge("bodydock_health_evaluated_timestamp_seconds", "Unix time of the last health evaluation.", [],
                     f.at.timestamp())


def _gauge(name: str, doc: str, labels: list[tuple[str, str]], value: float) -> GaugeMetricFamily:
    g = GaugeMetricFamily(name, doc, labels=[k for k, _ in labels])
    g.add_metric([v for _, v in labels], value)
    return g


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)


def make_registry(report: Callable[[], HealthReport], loop_age: Callable[[], float | None]) -> CollectorRegistry:
    """A registry of its own (not the global one): only bodydock's series and this process's."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HealthCollector(report, loop_age))
    ProcessCollector(registry=registry)
    return registry


def monotonic_age(last: Callable[[], float]) -> Callable[[], float]:
    return lambda: max(0.0, time.monotonic() - last())
