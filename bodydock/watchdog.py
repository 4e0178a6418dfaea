"""Feed systemd's watchdog only while the station core is alive.

systemd restarts the daemon when ``WATCHDOG=1`` stops arriving for ``WatchdogSec``. Pinging from
a timer alone would keep a daemon whose core thread hangs (a stuck lock, a blocking call) alive
forever; so each ping first checks the core's heartbeat (``Station.last_loop``, monotonic, set
every loop turn, at least every 0.2 s when idle). A heartbeat older than half the watchdog
period stops the pings, and systemd does the rest.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from bodydock.sdnotify import Notifier

log = logging.getLogger(__name__)


class CoreWatchdog:
    def __init__(self, notifier: Notifier, interval_s: float, heartbeat: Callable[[], float]) -> None:
        self.notifier = notifier
        self.period_s = interval_s
        self.heartbeat = heartbeat  # monotonic time of the core's last loop turn
        self.stall_s = interval_s / 2
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.stalled = False

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)

    def tick(self) -> None:
        age = time.monotonic() - self.heartbeat()
        if age < self.stall_s:
            if self.stalled:
                log.warning("station core responds again after %.1f s", age)
                self.notifier.notify("STATUS=running")
                self.stalled = False
            self.notifier.notify("WATCHDOG=1")
            return
        if not self.stalled:
            self.stalled = True
            log.error("station core has not run for %.1f s: withholding the systemd watchdog so it restarts us", age)
            self.notifier.notify(f"STATUS=station core not responding for {age:.0f} s")

    def _run(self) -> None:
        # Ping at a quarter of the period: two pings may be lost before systemd acts.
        while not self._stop.wait(self.period_s / 4):
            try:
                self.tick()
            except Exception:
                log.exception("watchdog tick failed")
