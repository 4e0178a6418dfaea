"""udev source tests inside a umockdev testbed (run by test_udev.py under umockdev-wrapper).

Real pyudev, real monitor socket (umockdev's), real sysfs layout: devices are added, bound,
removed and re-added, events arrive out of order, one camera sits on a port no slot lists.
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from station.adapters.registry import AdapterRegistry
from station.sources.dock_tracker import SlotMap, SlotPorts
from station.sources.interface import DeviceArrived, DeviceEvent, DeviceFault, DeviceLeft, SourceSynced, UnmappedDevice
from station.sources.udev import UdevSource
from tests.umockdock import UMockDock, under_umockdev

pytestmark = pytest.mark.skipif(not under_umockdev(), reason="needs umockdev-wrapper")
SLOTS = SlotMap([SlotPorts(1, ("1-1.1", "2-1.1")), SlotPorts(2, ("1-1.2", "2-1.2")), SlotPorts(3, ("1-1.3",))])


class Events:
    def __init__(self) -> None:
        self.q: queue.Queue[DeviceEvent] = queue.Queue()

    def post(self, ev: DeviceEvent) -> None:
        self.q.put(ev)

    def next(self, timeout: float = 5.0) -> DeviceEvent:
        return self.q.get(timeout=timeout)

    def expect(self, *want: DeviceEvent | type, timeout: float = 5.0) -> list[DeviceEvent]:
        got = []
        for w in want:
            ev = self.next(timeout)
            if isinstance(w, type):
                assert isinstance(ev, w), f"expected a {w.__name__}, got {ev}"
            else:
                assert ev == w, f"expected {w}, got {ev}"
            got.append(ev)
        return got

    def quiet(self, seconds: float = 0.6) -> None:
        try:
            ev = self.q.get(timeout=seconds)
        except queue.Empty:
            return
        raise AssertionError(f"unexpected event {ev}")


@pytest.fixture
def dock() -> UMockDock:
    return UMockDock()


@pytest.fixture
def start(dock: UMockDock) -> Iterator[Callable[[], Events]]:
    sources: list[UdevSource] = []

    def go() -> Events:
        events = Events()
        src = UdevSource(SLOTS, AdapterRegistry(), readiness_timeout_s=1.0, debounce_s=0.1)
        src.start(events.post)
        sources.append(src)
        return events

    yield go
    for s in sources:
        s.stop()


def test_present_devices_are_reported_before_synced(dock: UMockDock, start: Callable[[], Events]) -> None:
    cam = dock.plug_storage("1-1.1")
    vendor = dock.plug_vendor("1-1.2")
    events = start()
    got = events.expect(DeviceArrived, DeviceArrived, SourceSynced)
    assert set(got[:2]) == {DeviceArrived(slot_id=1, adapter="mass_storage", locator=cam.partition_node),
                            DeviceArrived(slot_id=2, adapter="vendor_usb", locator=vendor.usb)}
    events.quiet()


def test_add_bind_remove_readd(dock: UMockDock, start: Callable[[], Events]) -> None:
    events = start()
    events.expect(SourceSynced)
    cam = dock.plug_storage("1-1.1")
    events.expect(DeviceArrived(slot_id=1, adapter="mass_storage", locator=cam.partition_node))
    events.quiet(0.3)
    dock.unplug(cam)
    events.expect(DeviceLeft(slot_id=1))
    again = dock.plug_storage("1-1.1")
    events.expect(DeviceArrived(slot_id=1, adapter="mass_storage", locator=again.partition_node))
    dock.unplug(again)
    events.expect(DeviceLeft(slot_id=1))
    events.quiet()


def test_children_before_parents(dock: UMockDock, start: Callable[[], Events]) -> None:
    events = start()
    events.expect(SourceSynced)
    cam = dock.plug_storage("1-1.3", reverse=True)
    events.expect(DeviceArrived(slot_id=3, adapter="mass_storage", locator=cam.partition_node))
    events.quiet()


def test_usb3_path_and_unpartitioned_card(dock: UMockDock, start: Callable[[], Events]) -> None:
    events = start()
    events.expect(SourceSynced)
    cam = dock.plug_storage("2-1.2", partitioned=False)
    events.expect(DeviceArrived(slot_id=2, adapter="mass_storage", locator=f"/dev/{cam.nodes[0]}"))


def test_vendor_camera_bind_unbind(dock: UMockDock, start: Callable[[], Events]) -> None:
    events = start()
    events.expect(SourceSynced)
    cam = dock.plug_vendor("1-1.2", bind=False)
    events.quiet(0.4)  # added but not bound: not usable yet
    dock.bind(cam)
    events.expect(DeviceArrived(slot_id=2, adapter="vendor_usb", locator=cam.usb))
    dock.unbind(cam)
    events.expect(DeviceLeft(slot_id=2))
    dock.bind(cam)
    events.expect(DeviceArrived(slot_id=2, adapter="vendor_usb", locator=cam.usb))
    dock.unplug(cam)
    events.expect(DeviceLeft(slot_id=2))


def test_flapping_is_debounced(dock: UMockDock, start: Callable[[], Events]) -> None:
    events = start()
    events.expect(SourceSynced)
    for _ in range(4):
        cam = dock.plug_vendor("1-1.1")
        dock.unplug(cam)
    cam = dock.plug_vendor("1-1.1")
    events.expect(DeviceArrived(slot_id=1, adapter="vendor_usb", locator=cam.usb))
    events.quiet()


def test_unmapped_port_is_reported_not_used(dock: UMockDock, start: Callable[[], Events]) -> None:
    events = start()
    events.expect(SourceSynced)
    dock.plug_storage("1-4")
    (ev,) = events.expect(UnmappedDevice)
    assert isinstance(ev, UnmappedDevice) and ev.port == "1-4" and "mass_storage" in ev.description
    events.quiet()


def test_storage_that_never_appears_faults_the_slot(dock: UMockDock, start: Callable[[], Events]) -> None:
    events = start()
    events.expect(SourceSynced)
    usb_only = dock._usb_record("1-1.1", "0781", "5567", ":080650:", 99, "Reader")
    dock._add(usb_only)
    dock.tb.uevent("/sys" + dock.usb_path("1-1.1"), "bind")
    (ev,) = events.expect(DeviceFault, timeout=5)
    assert isinstance(ev, DeviceFault) and ev.slot_id == 1 and "storage" in ev.reason


def test_station_follows_the_slots(dock: UMockDock, tmp_path: Path) -> None:
    """The whole station on top: a camera's card (an exFAT image in the testbed's /dev) is
    offloaded and wiped; taking it out empties the slot; pulling one mid-transfer never wipes."""
    from bodydock.assembly import build_station
    from device_adapters.mass_storage.images import make_exfat
    from tests.conftest import journal_query, wait_for, write_station_config

    image = tmp_path / "card.img"
    files = {f"DCIM/100BODY/VID_{i:04d}.MP4": bytes([i]) * (200_000 + i) for i in range(3)}
    make_exfat(image, files, size=4 * 1024 * 1024, cluster=512)
    env = write_station_config(tmp_path / "station", slots=1, wipe_after="local_verified")
    cfg = env.load()
    adapters = AdapterRegistry(context={"station_timezone": "UTC"})
    source = UdevSource(SlotMap([SlotPorts(1, ("1-1.1",))]), adapters, debounce_s=0.1)
    st = build_station(cfg, source=source)
    st.start()
    try:
        cam = dock.plug_storage("1-1.1", image=image.read_bytes())
        wait_for(lambda: st.views()[0].state == "ready", 60, what="camera offloaded, wiped and ready")
        rows = journal_query(env.state, "SELECT source_key, status FROM recordings")
        assert sorted(r[0] for r in rows) == sorted(files) and {r[1] for r in rows} == {"verified"}
        dock.unplug(cam)
        wait_for(lambda: st.views()[0].state == "empty", 10, what="slot empty after removal")
        # Mid-transfer: the card goes while the station is reading it.
        big = {f"DCIM/100BODY/BIG_{i}.MP4": bytes([i + 7]) * 600_000 for i in range(5)}
        make_exfat(image, big, size=8 * 1024 * 1024, cluster=512)
        before = image.read_bytes()
        cam = dock.plug_storage("1-1.1", image=before)
        wait_for(lambda: st.views()[0].state in ("offloading", "verified", "wiping"), 30, interval=0.005,
                 what="offload under way")
        node = dock.root / "dev" / cam.nodes[-1]
        dock.unplug(cam)
        wait_for(lambda: st.views()[0].state == "empty", 30, what="slot empty after a yank")
        assert not node.exists()
        wiped = journal_query(env.state, "SELECT count(*) FROM recordings WHERE camera_state = 'wiped' "
                                         "AND source_key LIKE '%BIG%'")
        assert wiped[0][0] <= 5  # whatever was wiped had a verified copy first (the wipe gate's rule)
        unsafe = journal_query(env.state, "SELECT count(*) FROM recordings WHERE camera_state = 'wiped' "
                                          "AND status != 'verified'")
        assert unsafe[0][0] == 0
    finally:
        st.stop()
