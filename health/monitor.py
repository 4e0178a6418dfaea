"""The health monitor inside the daemon: runs the checks on a timer, keeps the latest report,
and turns check results into alerts (raised on warn/critical, cleared when ok again)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from config.model import StationConfig
from health.checks import Limits, run_checks
from health.gather import Gatherer, Probes
from health.model import Status
from health.report import HealthReport
from station import __version__
from station.core.alerts import Severity
from station.core.engine import Station
from station.timeutil import utcnow

log = logging.getLogger(__name__)
ALERT_PREFIX = "health:"
# Results that mirror an alert the station raised itself (the deliverer's vault alerts).
MIRRORED = frozenset({"vault.alert"})


def alert_key(check: str) -> str:
    return ALERT_PREFIX + check


def build_report(cfg: StationConfig, gatherer: Gatherer, station: Station | None, *,
                 started: datetime | None = None, force_integrity: bool = False) -> HealthReport:
    facts = gatherer.gather(station, started=started, force_integrity=force_integrity)
    limits = Limits(cfg.health, cfg.policies.step_timeout_s)
    return HealthReport(cfg.station.id, cfg.station.name, __version__, facts, run_checks(facts, limits))


class HealthMonitor:
    def __init__(self, cfg: StationConfig, station: Station, probes: Probes | None = None) -> None:
        self.cfg, self.station = cfg, station
        self.gatherer = Gatherer(cfg, probes or Probes())
        self.started = utcnow()
        self._lock = threading.Lock()  # one evaluation at a time (timer and on-demand)
        self._report: HealthReport | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.listeners: list[Callable[[HealthReport], None]] = []

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        # The first run (with the whole-file integrity checks) happens on the thread, so a large
        # audit log does not delay the daemon's READY.
        self._thread = threading.Thread(target=self._run, name="health", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            try:
                self.evaluate()
            except Exception:
                log.exception("health evaluation failed")
            if self._stop.wait(self.cfg.health.interval_s):
                return

    # --- evaluation ---------------------------------------------------------------------------
    def report(self) -> HealthReport:
        """The latest report (evaluated now if there is none yet)."""
        report = self._report
        return report if report is not None else self.evaluate()

    def evaluate(self, *, force_integrity: bool = False) -> HealthReport:
        with self._lock:
            report = build_report(self.cfg, self.gatherer, self.station, started=self.started,
                                  force_integrity=force_integrity)
            self._update_alerts(report)
            # Alerts changed above; re-read them so the report shows what staff will see.
            report = _with_alerts(report, self.station)
            self._report = report
        for listener in self.listeners:
            listener(report)
        return report

    def _update_alerts(self, report: HealthReport) -> None:
        alerts = self.station.alerts
        open_keys = {a.key for a in report.facts.alerts}
        for c in report.checks:
            key = alert_key(c.name)
            if c.code in MIRRORED:
                # The check only repeats an alert the station already keeps open: no second one.
                if key in open_keys:
                    alerts.clear(key, f"{c.title}: {c.summary}")
                continue
            if c.status in (Status.WARN, Status.CRITICAL):
                severity = Severity.CRITICAL if c.status is Status.CRITICAL else Severity.WARN
                # Raised again while it lasts: refreshes the message, severity and last_seen.
                alerts.raise_(key, severity, f"{c.title}: {c.summary} {c.action}".strip())
            elif c.status is Status.OK and key in open_keys:
                alerts.clear(key, f"{c.title}: {c.summary}")

    def acknowledge(self, alert_id: int, who: str) -> bool:
        ok = self.station.alerts.acknowledge(alert_id, who)
        if ok:
            with self._lock:
                if self._report is not None:
                    self._report = _with_alerts(self._report, self.station)
        return ok


def _with_alerts(report: HealthReport, station: Station) -> HealthReport:
    return replace(report, facts=replace(report.facts, alerts=tuple(station.alerts.open())))
