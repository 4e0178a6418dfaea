"""The udev device source: USB cameras appearing in and leaving the dock's slots.

Three threads, each with one job:

* the caller of :meth:`start` opens the monitor (udev's socket, filtered in the kernel to the
  ``usb``/``usb_device`` and ``block`` subsystems) and starts it *before* listing the devices
  already present, so nothing that happens in between is lost (a duplicate is harmless);
* the monitor thread only receives: each event goes into a queue untouched;
* the worker thread turns events into slot decisions (:mod:`station.sources.dock_tracker`), keeps the
  debounce and readiness deadlines, and posts DeviceArrived/DeviceLeft/DeviceFault/
  UnmappedDevice/SourceSynced to the station's queue. Nothing is decided on the monitor thread,
  so a slow decision can never make the kernel drop events.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pyudev

from station.adapters.registry import AdapterRegistry
from station.sources.dock_tracker import PRESENT, DockTracker, SlotMap, UEvent
from station.sources.interface import DeviceEvent, DeviceSource, SourceSynced

log = logging.getLogger(__name__)

# sysfs attributes worth reading while the device still exists (a remove event has no sysfs).
_USB_ATTRIBUTES = ("idVendor", "idProduct", "busnum", "devnum", "bDeviceClass", "serial", "product", "manufacturer")
_SYNCED = object()
_STOP = object()


@dataclass(frozen=True)
class _Raw:
    at: float  # monotonic time the event was received
    device: Any  # a pyudev Device, converted on the worker thread
    action: str | None  # PRESENT for enumerated devices, else the event's own


def to_uevent(device: Any, action: str | None = None) -> UEvent:
    """A pyudev Device as plain data (runs on the worker thread: it may read sysfs)."""
    subsystem = device.subsystem or ""
    devtype = device.device_type or ""
    props = {str(k): str(v) for k, v in device.properties.items()}
    attrs: dict[str, str] = {}
    act = action or device.action or PRESENT
    if subsystem == "usb" and devtype == "usb_device" and act != "remove":
        for name in _USB_ATTRIBUTES:
            try:
                value = device.attributes.get(name)
            except Exception:  # a vanished device, or an attribute that cannot be read
                value = None
            if value is not None:
                attrs[name] = value.decode(errors="replace").strip() if isinstance(value, bytes) else str(value)
    return UEvent(act, subsystem, devtype, device.sys_path, props, attrs)


class UdevSource(DeviceSource):
    def __init__(
        self,
        slots: SlotMap,
        adapters: AdapterRegistry,
        *,
        readiness_timeout_s: float = 10.0,
        debounce_s: float = 0.25,
        context: Any = None,
    ) -> None:
        self.tracker = DockTracker(
            slots, adapters.match, readiness_timeout_s=readiness_timeout_s, debounce_s=debounce_s
        )
        self._context = context
        self._queue: queue.Queue[object] = queue.Queue()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._monitor: Any = None

    def start(self, post: Callable[[DeviceEvent], None]) -> None:
        context = self._context or pyudev.Context()
        monitor = pyudev.Monitor.from_netlink(context, source="udev")
        # Kernel-side (BPF) filters: the socket never even receives other subsystems' events.
        monitor.filter_by("usb", device_type="usb_device")
        monitor.filter_by("block")
        monitor.start()
        self._monitor = monitor
        for device in self._present(context):
            self._queue.put(_Raw(time.monotonic(), device, PRESENT))
        self._queue.put(_SYNCED)
        self._threads = [
            threading.Thread(target=self._receive, name="udev-monitor", daemon=True),
            threading.Thread(target=self._work, args=(post,), name="udev-slots", daemon=True),
        ]
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        self._queue.put(_STOP)
        for t in self._threads:
            t.join(timeout=5)

    @staticmethod
    def _present(context: Any) -> Iterable[Any]:
        yield from context.list_devices(subsystem="usb", DEVTYPE="usb_device")
        yield from context.list_devices(subsystem="block")

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                device = self._monitor.poll(timeout=0.2)
            except Exception:
                log.exception("udev monitor failed; retrying")
                time.sleep(0.5)
                continue
            if device is not None:
                self._queue.put(_Raw(time.monotonic(), device, None))

    def _work(self, post: Callable[[DeviceEvent], None]) -> None:
        synced = False
        while True:
            deadline = self.tracker.next_deadline()
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                item = None
            if item is _STOP:
                return
            try:
                if item is _SYNCED:
                    # Everything present at start is reported at once (no debounce), then synced.
                    for ev in self.tracker.due(time.monotonic(), force=True):
                        post(ev)
                    post(SourceSynced())
                    synced = True
                    continue
                if isinstance(item, _Raw):
                    uevent = to_uevent(item.device, item.action)
                    log.debug("udev %s %s %s", uevent.action, uevent.devtype, uevent.sys_path)
                    for ev in self.tracker.feed(uevent, item.at):
                        post(ev)
                if synced:
                    for ev in self.tracker.due(time.monotonic()):
                        post(ev)
            except Exception:
                log.exception("udev event handling failed for %r", item)
