"""Which camera is in which slot, from a stream of udev events (pure logic, no pyudev).

The udev source feeds every USB-device and block-device event in here, on its own worker thread;
this model decides, per slot, what the station should be told. Kept free of I/O so it can be
tested with hand-made event sequences as well as through umockdev.

* Slot mapping: a device belongs to a slot when its USB port chain (``1-2.3``, the kernel's name
  for the device) is one of the slot's ports or lies below one (a camera with a built-in hub).
  A slot lists its USB 2 and USB 3 chains separately; ID_PATH is not used because the two
  collide.
* Readiness: a camera is reported only once it can be used: for a block-device adapter when its
  disk and, if the disk is partitioned, a partition have appeared (they come after the USB
  device's ``add``, possibly out of order); for a USB adapter when the device is bound to its
  driver. A slot that stays not-ready for ``readiness_timeout_s`` is reported as a fault.
* Debounce: after any event for a slot the slot must be quiet for ``debounce_s`` before it is
  evaluated, so a flapping connection yields one departure and one arrival, not dozens; a
  device that comes and goes within the window is never reported at all.
* Identity: what was reported is remembered (adapter, locator, bus address); a re-enumeration
  (new address) is a departure and a new arrival even if the node names are reused.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from device_adapters.api import AdapterDescriptor, LocatorKind
from station.adapters.registry import DeviceFacts
from station.sources.interface import DeviceArrived, DeviceEvent, DeviceFault, DeviceLeft, UnmappedDevice

log = logging.getLogger(__name__)

_PORT = re.compile(r"^\d+-\d+(\.\d+)*$")
_HUB_CLASS = "09"
PRESENT = "present"  # the action of a device found by enumeration at start


@dataclass(frozen=True)
class UEvent:
    """One udev event, reduced to what the tracker needs (plain data, safe to queue)."""

    action: str  # add, remove, bind, unbind, change, or PRESENT
    subsystem: str  # "usb" or "block"
    devtype: str  # "usb_device", "disk", "partition", ...
    sys_path: str
    properties: Mapping[str, str] = field(default_factory=dict)
    attributes: Mapping[str, str] = field(default_factory=dict)  # sysfs attributes, read when received


def port_of(sys_path: str) -> str | None:
    """The USB port chain of the device at ``sys_path`` or of its nearest USB ancestor."""
    for part in reversed(sys_path.rstrip("/").split("/")):
        if _PORT.match(part):
            return part
    return None


def _ports_below(port: str, slot_port: str) -> bool:
    return port == slot_port or port.startswith(slot_port + ".")


@dataclass(frozen=True)
class SlotPorts:
    slot_id: int
    ports: tuple[str, ...]


class SlotMap:
    def __init__(self, slots: Iterable[SlotPorts]) -> None:
        self.slots = tuple(slots)
        seen: dict[str, int] = {}
        for s in self.slots:
            for p in s.ports:
                if p in seen:
                    raise ValueError(f"USB port {p} is listed for slots {seen[p]} and {s.slot_id}")
                seen[p] = s.slot_id

    def slot_for(self, port: str | None) -> int | None:
        if port is None:
            return None
        best: tuple[int, int] | None = None  # (depth of the matched slot port, slot id)
        for s in self.slots:
            for p in s.ports:
                if _ports_below(port, p) and (best is None or p.count(".") > best[0]):
                    best = (p.count("."), s.slot_id)
        return None if best is None else best[1]


@dataclass
class _Usb:
    sys_path: str
    port: str
    properties: dict[str, str]
    attributes: dict[str, str]
    bound: bool

    def _get(self, prop: str, attr: str) -> str:
        return self.properties.get(prop) or self.attributes.get(attr, "")

    @property
    def vendor_id(self) -> int | None:
        return _hex(self._get("ID_VENDOR_ID", "idVendor")) or _product(self.properties, 0)

    @property
    def product_id(self) -> int | None:
        return _hex(self._get("ID_MODEL_ID", "idProduct")) or _product(self.properties, 1)

    @property
    def address(self) -> str:
        return f"{self._get('BUSNUM', 'busnum')}:{self._get('DEVNUM', 'devnum')}"

    @property
    def is_hub(self) -> bool:
        return self.attributes.get("bDeviceClass", "") == _HUB_CLASS

    def describe(self) -> str:
        vid, pid = self.vendor_id, self.product_id
        ids = f"{vid:04x}:{pid:04x}" if vid is not None and pid is not None else "unknown id"
        name = self.attributes.get("product") or self.properties.get("ID_MODEL", "")
        return f"USB device {ids}{' ' + name if name else ''} on port {self.port}"


@dataclass
class _Block:
    sys_path: str
    devtype: str
    properties: dict[str, str]

    @property
    def devname(self) -> str:
        return self.properties.get("DEVNAME", "")


def _hex(value: str) -> int | None:
    try:
        return int(value, 16) if value else None
    except ValueError:
        return None


def _product(props: Mapping[str, str], index: int) -> int | None:
    # The kernel's own PRODUCT=vid/pid/bcd (hex, no padding) is there even without udev's rules.
    parts = props.get("PRODUCT", "").split("/")
    return _hex(parts[index]) if len(parts) == 3 else None


# What the tracker wants a slot to be reported as.
@dataclass(frozen=True)
class _Arrived:
    adapter: str
    locator: str
    identity: tuple[str, ...]


@dataclass(frozen=True)
class _Fault:
    reason: str
    identity: tuple[str, ...]


@dataclass(frozen=True)
class _Pending:
    why: str
    identity: tuple[str, ...]


_Want = _Arrived | _Fault | _Pending | None


def _same(a: _Want, b: _Arrived | _Fault | None) -> bool:
    if isinstance(a, _Fault) and isinstance(b, _Fault):
        return a.identity == b.identity  # a reworded reason is not a new fault
    return a == b


@dataclass
class _SlotState:
    reported: _Arrived | _Fault | None = None
    settle_at: float | None = None
    pending_since: float | None = None
    pending_identity: tuple[str, ...] | None = None


class DockTracker:
    def __init__(
        self,
        slots: SlotMap,
        match: Callable[[DeviceFacts], AdapterDescriptor | None],
        *,
        readiness_timeout_s: float = 10.0,
        debounce_s: float = 0.25,
    ) -> None:
        self.slots = slots
        self.match = match
        self.readiness_timeout_s = readiness_timeout_s
        self.debounce_s = debounce_s
        self._usb: dict[str, _Usb] = {}
        self._block: dict[str, _Block] = {}
        self._state = {s.slot_id: _SlotState() for s in slots.slots}
        self._unmapped_reported: set[tuple[str, str]] = set()

    # --- input --------------------------------------------------------------------------------

    def feed(self, ev: UEvent, now: float) -> list[DeviceEvent]:
        """Apply one event; returns events to post at once (only unmapped-port reports)."""
        out: list[DeviceEvent] = []
        if ev.subsystem == "usb" and ev.devtype == "usb_device":
            out.extend(self._usb_event(ev))
            port = port_of(ev.sys_path)
        elif ev.subsystem == "block" and ev.devtype in ("disk", "partition"):
            self._block_event(ev)
            port = port_of(ev.sys_path)
        else:
            return out
        slot = self.slots.slot_for(port)
        if slot is not None:
            st = self._state[slot]
            # A "present" device needs no settling: it has been there since before we started.
            st.settle_at = now if ev.action == PRESENT else now + self.debounce_s
        return out

    def _usb_event(self, ev: UEvent) -> list[DeviceEvent]:
        port = port_of(ev.sys_path)
        if port is None or not ev.sys_path.rstrip("/").endswith(port):
            return []  # a root hub ("usb1"): never a camera
        if ev.action == "remove":
            self._usb.pop(ev.sys_path, None)
            # Its block devices go with it, even if their own remove events are late or lost.
            for p in [p for p in self._block if p.startswith(ev.sys_path + "/")]:
                del self._block[p]
            return []
        dev = self._usb.get(ev.sys_path)
        if dev is None:
            dev = _Usb(ev.sys_path, port, dict(ev.properties), dict(ev.attributes), bound=False)
            self._usb[ev.sys_path] = dev
        else:
            dev.properties.update(ev.properties)
            dev.attributes.update(ev.attributes)
        if ev.action in ("bind", PRESENT):
            dev.bound = True
        elif ev.action == "unbind":
            dev.bound = False
        elif ev.action == "add":
            dev.bound = False  # the generic USB driver binds right after; until then, not usable
        if self.slots.slot_for(port) is None and not dev.is_hub and ev.action in ("add", PRESENT):
            return self._unmapped(dev)
        return []

    def _unmapped(self, dev: _Usb) -> list[DeviceEvent]:
        facts = DeviceFacts(dev.vendor_id, dev.product_id, dev.properties)
        descriptor = self.match(facts)
        key = (dev.sys_path, dev.address)
        if descriptor is None or key in self._unmapped_reported:
            return []  # not a camera we know (a keyboard, the station's own disk): not our business
        self._unmapped_reported.add(key)
        log.warning("%s looks like a camera (%s) but no slot lists that port; ignored", dev.describe(), descriptor.name)
        return [UnmappedDevice(port=dev.port, description=f"{dev.describe()} ({descriptor.name})")]

    def _block_event(self, ev: UEvent) -> None:
        if ev.action == "remove":
            self._block.pop(ev.sys_path, None)
            for p in [p for p in self._block if p.startswith(ev.sys_path + "/")]:
                del self._block[p]
            return
        if ev.action in ("add", "change", PRESENT, "bind"):
            blk = self._block.get(ev.sys_path)
            if blk is None:
                self._block[ev.sys_path] = _Block(ev.sys_path, ev.devtype, dict(ev.properties))
            else:
                blk.properties.update(ev.properties)

    # --- output -------------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        times = [t for st in self._state.values() for t in (st.settle_at,) if t is not None]
        for st in self._state.values():
            if st.pending_since is not None:
                times.append(st.pending_since + self.readiness_timeout_s)
        return min(times, default=None)

    def due(self, now: float, *, force: bool = False) -> list[DeviceEvent]:
        """Events for every slot whose quiet time has passed (all slots when ``force``)."""
        out: list[DeviceEvent] = []
        for slot_id, st in self._state.items():
            timed_out = st.pending_since is not None and now >= st.pending_since + self.readiness_timeout_s
            settled = st.settle_at is not None and now >= st.settle_at
            if force or settled or timed_out:
                if settled:
                    st.settle_at = None
                out.extend(self._evaluate(slot_id, st, now))
        return out

    def _evaluate(self, slot_id: int, st: _SlotState, now: float) -> list[DeviceEvent]:
        want = self._want(slot_id)
        if isinstance(want, _Pending):
            if st.pending_identity != want.identity:
                st.pending_since, st.pending_identity = now, want.identity
            if isinstance(st.reported, _Fault) and st.reported.identity == want.identity:
                want = st.reported  # still not ready: the fault stands
            elif st.pending_since is not None and now >= st.pending_since + self.readiness_timeout_s:
                want = _Fault(f"{want.why} (waited {self.readiness_timeout_s:g} s)", want.identity)
                st.pending_since = None  # reported; no further deadline for this identity
            else:
                want = None  # not usable (yet): nothing in the slot as far as the station knows
        else:
            st.pending_since = st.pending_identity = None
        if _same(want, st.reported):
            return []
        out: list[DeviceEvent] = []
        if st.reported is not None:
            out.append(DeviceLeft(slot_id=slot_id))
            st.reported = None
        if isinstance(want, _Arrived):
            out.append(DeviceArrived(slot_id=slot_id, adapter=want.adapter, locator=want.locator))
            st.reported = want
        elif isinstance(want, _Fault):
            out.append(DeviceFault(slot_id=slot_id, reason=want.reason))
            st.reported = want
        return out

    def _want(self, slot_id: int) -> _Want:
        devs = [u for u in self._usb.values() if self.slots.slot_for(u.port) == slot_id and not u.is_hub]
        if not devs:
            return None
        # The device nearest the slot's port is the camera (a camera's own hub sits below it).
        cam = min(devs, key=lambda u: (u.port.count("."), u.port))
        identity = (cam.sys_path, cam.address)
        descriptor = self.match(DeviceFacts(cam.vendor_id, cam.product_id, cam.properties))
        if descriptor is None:
            return _Fault(f"no installed adapter handles {cam.describe()}", identity)
        if descriptor.locator is LocatorKind.USB:
            if not cam.bound:
                return _Pending(f"{cam.describe()} was not bound to its driver", identity)
            return _Arrived(descriptor.name, cam.sys_path, identity)
        if descriptor.locator is LocatorKind.BLOCK:
            node = self._storage(cam)
            if node is None:
                return _Pending(f"the storage of {cam.describe()} did not appear", identity)
            return _Arrived(descriptor.name, node, (*identity, node))
        return _Fault(f"adapter {descriptor.name} cannot be used with udev (locator {descriptor.locator})", identity)

    def _storage(self, cam: _Usb) -> str | None:
        """The block node holding the camera's file system, once it exists."""
        under = [b for b in self._block.values() if b.sys_path.startswith(cam.sys_path + "/")]
        disks = sorted((b for b in under if b.devtype == "disk"), key=lambda b: b.sys_path)
        for disk in disks:
            inside = [b for b in under if b.devtype == "partition" and b.sys_path.startswith(disk.sys_path + "/")]
            # A FAT/exFAT partition first, then by name (sdb1 before sdb2).
            parts = sorted(inside, key=lambda b: (b.properties.get("ID_FS_TYPE") not in ("vfat", "exfat"), b.sys_path))
            if disk.properties.get("ID_PART_TABLE_TYPE"):
                if parts and parts[0].devname:
                    return parts[0].devname
            elif disk.properties.get("ID_FS_TYPE") and disk.devname:
                return disk.devname  # an unpartitioned card ("superfloppy")
            elif parts and parts[0].devname:
                return parts[0].devname  # partitions seen before the disk's own properties
        return None

    # --- introspection (tests, status pages) --------------------------------------------------

    def reported(self) -> dict[int, str | None]:
        out: dict[int, str | None] = {}
        for slot_id, st in self._state.items():
            r = st.reported
            out[slot_id] = None if r is None else (r.locator if isinstance(r, _Arrived) else f"fault: {r.reason}")
        return out


def slot_ports(slots: Sequence[tuple[int, Sequence[str]]]) -> SlotMap:
    return SlotMap(SlotPorts(sid, tuple(ports)) for sid, ports in slots)
