"""The vendor-protocol adapter against the simulated camera, byte for byte (pyusb core on top of
the simulator's own backend)."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from device_adapters.api import AdapterError, CameraGone, RecordingInfo, Wearer
from device_adapters.mass_storage.images import make_image
from device_adapters.vendor_usb.adapter import VendorUsbAdapter, VendorUsbAdapterFactory, ascii_name
from device_adapters.vendor_usb.protocol import NoAnswer, ProtocolError
from device_adapters.vendor_usb.simdevice import SimBackend, SimCamera
from station.adapters.calls import AdapterTimeout, CallTimeouts, GuardedAdapter

PASSWORD = "314159"


class Rig:
    def __init__(self, tmp: Path, *, packet_size: int = 512, card: bool = False) -> None:
        self.cam = SimCamera(serial="BWC0042", password=PASSWORD, packet_size=packet_size, tz="+01:00")
        self.sys_dir = tmp / "sys" / "1-1.2"
        self.sys_dir.mkdir(parents=True)
        (self.sys_dir / "busnum").write_text("1\n")
        (self.sys_dir / "devnum").write_text("7\n")
        self.image = tmp / "card.img"
        if card:
            make_image("exfat", self.image, {"DCIM/100AMBA/AMBA0001.MP4": b"footage" * 1000})
        cam, image = self.cam, str(self.image)
        self.factory = VendorUsbAdapterFactory(
            password=PASSWORD, station_timezone="Europe/Amsterdam", backend=SimBackend(self.cam),
            find_storage=lambda _loc: (lambda: image if cam.msc and os.path.exists(image) else None),
            storage_timeout_s=0.5,
            command_timeout_ms=500,
        )

    def adapter(self) -> VendorUsbAdapter:
        return self.factory(str(self.sys_dir))

    def outs(self) -> list[bytes]:
        return [data for d, data in self.cam.transcript if d == "out"]

    def ins(self) -> bytes:
        return b"".join(data for d, data in self.cam.transcript if d == "in")


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return Rig(tmp_path)


def test_identify_byte_for_byte(rig: Rig) -> None:
    rig.cam.officer_id = "BOA-7"
    info = rig.adapter().identify()
    assert (info.serial, info.model, info.firmware, info.wearer_id) == ("BWC0042", "BWC-A7", "V2.3.1_20230411", "BOA-7")
    assert abs(info.clock_offset_s) < 2
    assert rig.outs() == [
        b"HELLO\r\n",
        b"PWD 314159\r\n",
        b"GET SN\r\n",
        b"GET MODEL\r\n",
        b"GET FW\r\n",
        b"GET TIME\r\n",
        b"GET ID\r\n",
    ]
    answer = rig.ins()
    assert answer.startswith(b"PROTO=1\r\nVENDOR=AMBA\r\nOK\r\nOK\r\nSN=BWC0042\r\nOK\r\nMODEL=BWC-A7\r\nOK\r\n")
    assert answer.endswith(b"TZ=+01:00\r\nOK\r\nID=BOA-7\r\nOK\r\n")


def test_answers_split_over_tiny_packets(tmp_path: Path) -> None:
    rig = Rig(tmp_path, packet_size=3)
    assert rig.adapter().read_settings()["RES"] == "1080P30"
    assert max(len(d) for direction, d in rig.cam.transcript if direction == "in") == 3


def test_clock_and_zone_are_set_in_local_time(rig: Rig) -> None:
    a = rig.adapter()
    a.set_clock(datetime(2026, 7, 1, 12, 0, 0, tzinfo=UTC))  # summer: CEST
    a.set_clock(datetime(2026, 1, 15, 12, 0, 0, tzinfo=UTC))  # winter: CET
    assert rig.outs()[2:] == [
        b"SET TZ +02:00\r\n", b"SET TIME 2026-07-01 14:00:00\r\n",
        b"SET TZ +01:00\r\n", b"SET TIME 2026-01-15 13:00:00\r\n",
    ]
    a.set_clock(datetime.now(UTC))
    assert abs(a.identify().clock_offset_s) < 2


def test_wearer(rig: Rig) -> None:
    a = rig.adapter()
    a.set_wearer(Wearer(officer_id="BOA-4711", name="Ayşe  Özdemir-Çelik"))
    assert rig.outs()[-2:] == [b"SET ID BOA-4711\r\n", b"SET NAME Ayse Ozdemir-Celik\r\n"]
    assert (rig.cam.officer_id, rig.cam.name) == ("BOA-4711", "Ayse Ozdemir-Celik")
    sent = len(rig.outs())
    with pytest.raises(AdapterError, match="officer id"):
        a.set_wearer(Wearer(officer_id="BOA 4711; rm", name="x"))
    assert len(rig.outs()) == sent, "nothing is sent for an invalid id"
    a.set_wearer(None)
    assert rig.outs()[-2:] == [b"SET ID\r\n", b"SET NAME\r\n"] and rig.cam.officer_id == ""
    assert ascii_name("Jan\tde  Vries") == "Jan de Vries"


def test_battery_and_settings(rig: Rig) -> None:
    a = rig.adapter()
    b = a.battery()
    assert (b.percent, b.charging) == (64, True)
    a.push_settings({"PRE": "30", "IR": "OFF"})
    assert rig.outs()[-2:] == [b"SET CFG PRE=30\r\n", b"SET CFG IR=OFF\r\n"]
    assert a.read_settings()["PRE"] == "30"
    with pytest.raises(ProtocolError, match="unknown setting"):
        a.push_settings({"WIFI": "1"})
    with pytest.raises(ProtocolError, match="bad value"):
        a.push_settings({"PRE": "999"})


def test_wrong_password(rig: Rig) -> None:
    rig.cam.password = "something else"
    with pytest.raises(AdapterError, match="refused the dock's password"):
        rig.adapter().identify()
    # Without the password nothing but the open commands work: the storage stays locked.
    assert rig.outs()[-1] == b"PWD 314159\r\n"
    assert rig.cam.msc is False


def test_password_is_sent_on_every_insertion(rig: Rig) -> None:
    rig.adapter().battery()
    rig.cam.plug()  # taken out and docked again: locked
    rig.adapter().battery()
    assert rig.outs().count(b"PWD 314159\r\n") == 2


def test_garbage_and_silence(rig: Rig) -> None:
    a = rig.adapter()
    a.battery()
    rig.cam.garbage = True
    with pytest.raises(ProtocolError):
        a.battery()
    rig.cam.garbage = False
    b = rig.adapter()
    rig.cam.plug()
    rig.cam._pending.clear()
    # A camera that never answers: the protocol's own timeout.
    rig.cam.receive = lambda data: None  # type: ignore[method-assign]
    with pytest.raises(NoAnswer):
        b.battery()


def test_hang_is_contained_and_unplug_is_camera_gone(rig: Rig) -> None:
    # Long enough for a healthy call on a busy machine; the hung call below never returns at all.
    g = GuardedAdapter(rig.adapter().descriptor, rig.adapter, CallTimeouts(call_s=5))
    assert g.battery().percent == 64
    rig.cam.hung = True  # a bulk read that never completes, whatever its timeout
    with pytest.raises(AdapterTimeout):
        g.battery()
    rig.cam.release()
    a = rig.adapter()
    rig.cam.plug()
    a.battery()
    rig.cam.unplug()
    with pytest.raises(CameraGone):
        a.battery()


def test_storage_is_unlocked_then_read(tmp_path: Path) -> None:
    rig = Rig(tmp_path, card=True)
    a = rig.adapter()
    recs = a.list_recordings()
    assert [r.key for r in recs] == ["DCIM/100AMBA/AMBA0001.MP4"]
    assert b"MSC ON\r\n" in rig.outs() and rig.outs().index(b"PWD 314159\r\n") < rig.outs().index(b"MSC ON\r\n")
    with a.open_recording(recs[0]) as s:
        assert s.read() == b"footage" * 1000
    out = a.wipe(recs)
    assert out.removed == ("DCIM/100AMBA/AMBA0001.MP4",)
    assert a.list_recordings() == ()
    with pytest.raises(AdapterError):
        a.open_recording(RecordingInfo(key="DCIM/../x.MP4", size=1))


def test_storage_that_never_appears(rig: Rig) -> None:
    a = rig.adapter()
    with pytest.raises(AdapterError, match="no disk appeared"):
        a.list_recordings()


def test_one_command_at_a_time(rig: Rig) -> None:
    a = rig.adapter()
    errors: list[BaseException] = []

    def hammer() -> None:
        try:
            for _ in range(20):
                assert a.battery().percent == 64
                assert a.read_settings()["RES"]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
