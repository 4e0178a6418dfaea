"""Device source for the simulated dock: a folder whose ``slot-<id>`` symlinks are cameras.

Polling is deliberate: it needs no privileges and behaves the same in CI and in the demo. The
udev source replaces it on real hardware.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path

from station.sources.interface import DeviceArrived, DeviceEvent, DeviceLeft, DeviceSource, SourceSynced

log = logging.getLogger(__name__)
_ENTRY = re.compile(r"^slot-(\d+)$")


class SimulatedDockSource(DeviceSource):
    def __init__(self, dock_dir: Path, slot_ids: set[int], interval_s: float = 0.1) -> None:
        self.dock_dir = dock_dir
        self.slot_ids = slot_ids
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seen: dict[int, str] = {}

    def start(self, post: Callable[[DeviceEvent], None]) -> None:
        self.dock_dir.mkdir(parents=True, exist_ok=True)
        self._scan(post)
        post(SourceSynced())
        self._thread = threading.Thread(target=self._run, args=(post,), name="simdock", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)

    def _run(self, post: Callable[[DeviceEvent], None]) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self._scan(post)
            except OSError:
                log.exception("simulated dock scan failed")

    def _scan(self, post: Callable[[DeviceEvent], None]) -> None:
        now: dict[int, str] = {}
        for entry in os.scandir(self.dock_dir):
            m = _ENTRY.match(entry.name)
            if not m or not entry.is_symlink():
                continue
            slot = int(m.group(1))
            if slot not in self.slot_ids:
                log.warning("simulated camera in unmapped slot %s ignored", slot)
                continue
            target = os.readlink(entry.path)
            if Path(target).is_dir():
                now[slot] = target
        for slot, target in self._seen.items():
            if now.get(slot) != target:
                post(DeviceLeft(slot_id=slot))
        for slot, target in now.items():
            if self._seen.get(slot) != target:
                post(DeviceArrived(slot_id=slot, adapter="simulated", locator=target))
        self._seen = now
