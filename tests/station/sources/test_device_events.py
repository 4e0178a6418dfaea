"""What the core does with the udev source's extra events: a slot fault and an unmapped camera."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bodydock.assembly import build_station
from station.sources.interface import DeviceEvent, DeviceFault, DeviceLeft, DeviceSource, SourceSynced, UnmappedDevice
from tests.conftest import wait_for, write_station_config


class _Script(DeviceSource):
    def __init__(self) -> None:
        self.post: Callable[[DeviceEvent], None] = lambda ev: None

    def start(self, post: Callable[[DeviceEvent], None]) -> None:
        self.post = post
        post(SourceSynced())

    def stop(self) -> None:
        pass


def test_fault_and_unmapped_events(tmp_path: Path) -> None:
    env = write_station_config(tmp_path, slots=2)
    src = _Script()
    st = build_station(env.load(), source=src)
    st.start()
    try:
        src.post(DeviceFault(slot_id=1,
                             reason="the storage of USB device 0781:5567 on port 1-1.1 did not appear (waited 10 s)"))
        src.post(UnmappedDevice(port="1-4", description="USB device 4255:0001 on port 1-4 (vendor_usb)"))
        wait_for(lambda: st.views()[0].state == "fault", 10)
        assert "did not appear" in (st.views()[0].fault_reason or "")
        assert st.views()[1].state == "empty"
        wait_for(lambda: any(a.key == "unmapped-port:1-4" for a in st.alerts.open()), 10)
        src.post(DeviceLeft(slot_id=1))
        wait_for(lambda: st.views()[0].state == "empty", 10)
        audit = (env.state / "audit.log").read_text()
        assert "device.unmapped" in audit and "slot.fault" in audit
    finally:
        st.stop()
