"""The slot logic of the udev source, with hand-made event sequences (no udev needed)."""

from __future__ import annotations

import pytest

from station.adapters.registry import AdapterRegistry
from station.sources.dock_tracker import PRESENT, DockTracker, SlotMap, SlotPorts, UEvent, port_of
from station.sources.interface import DeviceArrived, DeviceFault, DeviceLeft, UnmappedDevice

ROOT = "/sys/devices/pci0000:00/0000:00:14.0"
MSC = {"ID_USB_INTERFACES": ":080650:", "ID_VENDOR_ID": "0781", "ID_MODEL_ID": "5567", "BUSNUM": "001"}
VENDOR = {"ID_VENDOR_ID": "4255", "ID_MODEL_ID": "0001", "ID_USB_INTERFACES": ":ff0000:080650:", "BUSNUM": "001"}


def usb(action: str, port: str, props: dict[str, str], devnum: int = 5, bus: str = "usb1") -> UEvent:
    return UEvent(action, "usb", "usb_device", f"{ROOT}/{bus}/{port}", {**props, "DEVNUM": f"{devnum:03d}"})


def disk(action: str, port: str, name: str = "sdb", table: bool = True) -> UEvent:
    path = f"{ROOT}/usb1/{port}/{port}:1.0/host3/target3:0:0/3:0:0:0/block/{name}"
    props = {"DEVNAME": f"/dev/{name}"} | ({"ID_PART_TABLE_TYPE": "dos"} if table else {"ID_FS_TYPE": "vfat"})
    return UEvent(action, "block", "disk", path, props)


def part(action: str, port: str, name: str = "sdb", n: int = 1, fs: str = "exfat") -> UEvent:
    path = f"{ROOT}/usb1/{port}/{port}:1.0/host3/target3:0:0/3:0:0:0/block/{name}/{name}{n}"
    return UEvent(action, "block", "partition", path, {"DEVNAME": f"/dev/{name}{n}", "ID_FS_TYPE": fs})


@pytest.fixture
def tracker() -> DockTracker:
    slots = SlotMap([SlotPorts(1, ("1-1.1", "2-1.1")), SlotPorts(2, ("1-1.2", "2-1.2"))])
    return DockTracker(slots, AdapterRegistry().match, readiness_timeout_s=5, debounce_s=0.25)


def run(t: DockTracker, events: list[UEvent], start: float = 0.0, step: float = 0.01) -> list[object]:
    out: list[object] = []
    now = start
    for ev in events:
        out += t.feed(ev, now)
        out += t.due(now)
        now += step
    return out


def test_port_of() -> None:
    assert port_of(f"{ROOT}/usb1/1-1/1-1.3") == "1-1.3"
    assert port_of(f"{ROOT}/usb1/1-1/1-1.3/1-1.3:1.0/host3/target3:0:0/3:0:0:0/block/sdb/sdb1") == "1-1.3"
    assert port_of(f"{ROOT}/usb1") is None


def test_storage_camera_reported_once_ready_after_quiet(tracker: DockTracker) -> None:
    out = run(tracker, [usb("add", "1-1.1", MSC), usb("bind", "1-1.1", MSC), disk("add", "1-1.1"),
                        part("add", "1-1.1")])
    assert out == []  # still within the debounce window
    assert tracker.due(0.2) == []
    assert tracker.due(0.5) == [DeviceArrived(slot_id=1, adapter="mass_storage", locator="/dev/sdb1")]
    assert tracker.due(5.0) == []
    run(tracker, [part("remove", "1-1.1"), disk("remove", "1-1.1"), usb("remove", "1-1.1", MSC)], start=6)
    assert tracker.due(7) == [DeviceLeft(slot_id=1)]


def test_out_of_order_and_usb3_path(tracker: DockTracker) -> None:
    run(tracker, [part("add", "2-1.1"), disk("add", "2-1.1"), usb("add", "2-1.1", MSC)])
    assert tracker.due(1) == [DeviceArrived(slot_id=1, adapter="mass_storage", locator="/dev/sdb1")]


def test_unpartitioned_card_uses_the_disk(tracker: DockTracker) -> None:
    run(tracker, [usb("add", "1-1.2", MSC), disk("add", "1-1.2", "sdc", table=False)])
    assert tracker.due(1) == [DeviceArrived(slot_id=2, adapter="mass_storage", locator="/dev/sdc")]


def test_storage_that_never_comes_is_a_fault_then_recovers(tracker: DockTracker) -> None:
    run(tracker, [usb("add", "1-1.1", MSC), usb("bind", "1-1.1", MSC), disk("add", "1-1.1")])
    assert tracker.due(1) == []
    assert tracker.next_deadline() == pytest.approx(1 + 5)
    out = tracker.due(6.5)
    assert len(out) == 1 and isinstance(out[0], DeviceFault) and "storage" in out[0].reason
    assert tracker.due(7) == [] and tracker.next_deadline() is None
    assert run(tracker, [part("add", "1-1.1")], start=7) == []  # the late storage is debounced too
    assert tracker.due(8) == [DeviceLeft(slot_id=1), DeviceArrived(slot_id=1, adapter="mass_storage",
                                                                   locator="/dev/sdb1")]


def test_vendor_camera_waits_for_bind_and_follows_unbind(tracker: DockTracker) -> None:
    sys_path = f"{ROOT}/usb1/1-1.2"
    run(tracker, [usb("add", "1-1.2", VENDOR)])
    assert tracker.due(1) == []
    run(tracker, [usb("bind", "1-1.2", VENDOR)], start=1)
    assert tracker.due(2) == [DeviceArrived(slot_id=2, adapter="vendor_usb", locator=sys_path)]
    run(tracker, [usb("unbind", "1-1.2", VENDOR)], start=3)
    assert tracker.due(4) == [DeviceLeft(slot_id=2)]
    run(tracker, [usb("bind", "1-1.2", VENDOR)], start=5)
    assert tracker.due(6) == [DeviceArrived(slot_id=2, adapter="vendor_usb", locator=sys_path)]


def test_flapping_connection_is_debounced(tracker: DockTracker) -> None:
    events = []
    for n in range(5):
        events += [usb("add", "1-1.2", VENDOR, devnum=10 + n), usb("bind", "1-1.2", VENDOR, devnum=10 + n),
                   usb("remove", "1-1.2", VENDOR, devnum=10 + n)]
    events += [usb("add", "1-1.2", VENDOR, devnum=20), usb("bind", "1-1.2", VENDOR, devnum=20)]
    assert run(tracker, events, step=0.02) == []
    assert tracker.due(5) == [DeviceArrived(slot_id=2, adapter="vendor_usb", locator=f"{ROOT}/usb1/1-1.2")]
    # A quick re-enumeration (same port, new address) is a departure and a new arrival.
    run(tracker, [usb("remove", "1-1.2", VENDOR, 20), usb("add", "1-1.2", VENDOR, 21),
                  usb("bind", "1-1.2", VENDOR, 21)], start=6)
    assert tracker.due(7) == [DeviceLeft(slot_id=2), DeviceArrived(slot_id=2, adapter="vendor_usb",
                                                                   locator=f"{ROOT}/usb1/1-1.2")]
    # A device that comes and goes within the window is never reported.
    run(tracker, [usb("add", "1-1.1", VENDOR, 30), usb("bind", "1-1.1", VENDOR, 30),
                  usb("remove", "1-1.1", VENDOR, 30)], start=8)
    assert tracker.due(9) == []


def test_unmapped_port_is_reported_not_used(tracker: DockTracker) -> None:
    keyboard = {"ID_USB_INTERFACES": ":030101:"}
    out = run(tracker, [usb("add", "1-4", VENDOR), usb("bind", "1-4", VENDOR), usb("add", "1-5", keyboard)])
    assert len(out) == 1 and isinstance(out[0], UnmappedDevice) and out[0].port == "1-4"
    assert tracker.due(5) == []


def test_unknown_device_in_a_slot_is_a_fault(tracker: DockTracker) -> None:
    keyboard = {"ID_VENDOR_ID": "046d", "ID_MODEL_ID": "c31c", "ID_USB_INTERFACES": ":030101:"}
    run(tracker, [usb("add", "1-1.1", keyboard), usb("bind", "1-1.1", {})])
    out = tracker.due(1)
    assert len(out) == 1 and isinstance(out[0], DeviceFault) and "no installed adapter" in out[0].reason


def test_present_at_start_is_reported_without_debounce(tracker: DockTracker) -> None:
    for ev in (usb(PRESENT, "1-1.1", MSC), disk(PRESENT, "1-1.1"), part(PRESENT, "1-1.1")):
        tracker.feed(ev, 100.0)
    assert tracker.due(100.0, force=True) == [DeviceArrived(slot_id=1, adapter="mass_storage", locator="/dev/sdb1")]


def test_overlapping_slot_ports_are_refused() -> None:
    with pytest.raises(ValueError, match="listed for slots"):
        SlotMap([SlotPorts(1, ("1-1",)), SlotPorts(2, ("1-1",))])
