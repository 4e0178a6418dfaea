"""A simulated Ambarella-based camera behind a pyusb backend of its own.

The adapter runs unchanged on top of it (real pyusb core, descriptors, claims, bulk transfers),
so the protocol is tested byte for byte: every transfer is kept in ``transcript``. The camera
can misbehave on request: hang (stop answering, the way a wedged firmware does), vanish
(ENODEV), answer in tiny packets, or answer garbage.
"""

from __future__ import annotations

import array
import errno
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import usb.backend
import usb.core

from device_adapters.vendor_usb import PRODUCT_ID, VENDOR_ID

EP_OUT, EP_IN = 0x01, 0x81
_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
_TZ = re.compile(r"^[+-]\d\d:\d\d$")
_ID = re.compile(r"^[A-Za-z0-9_-]{1,20}$")
OPEN_COMMANDS = ("HELLO", "PWD", "GET SN", "GET MODEL", "GET FW", "GET BAT")

DEFAULT_SETTINGS = {
    "RES": "1080P30",  # recording resolution
    "PRE": "10",  # pre-record seconds
    "POST": "10",  # post-record seconds
    "SPLIT": "10",  # minutes per file
    "GPS": "0",
    "IR": "AUTO",
    "BEEP": "1",
    "LED": "1",
    "STAMP": "1",  # time and officer id burnt into the picture
}
_VALID = {
    "RES": {"720P30", "1080P30", "1296P30", "1440P30"},
    "PRE": {str(i) for i in range(0, 61)},
    "POST": {str(i) for i in range(0, 61)},
    "SPLIT": {"3", "5", "10", "15", "30"},
    "GPS": {"0", "1"},
    "IR": {"AUTO", "ON", "OFF"},
    "BEEP": {"0", "1"},
    "LED": {"0", "1"},
    "STAMP": {"0", "1"},
}


@dataclass
class SimCamera:
    serial: str = "BWC0000001"
    model: str = "BWC-A7"
    firmware: str = "V2.3.1_20230411"
    password: str = "000000"
    battery: int = 64
    charging: bool = True
    officer_id: str = ""
    name: str = ""
    tz: str = "+00:00"
    clock_offset: timedelta = timedelta(0)  # camera clock minus real time
    settings: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_SETTINGS))
    packet_size: int = 512
    bus: int = 1
    address: int = 7
    # State of this insertion (reset by plug()).
    unlocked: bool = False
    msc: bool = False
    wrong_passwords: int = 0
    # Misbehaviour.
    hung: bool = False
    gone: bool = False
    garbage: bool = False
    on_msc: Callable[[bool], None] | None = None
    transcript: list[tuple[str, bytes]] = field(default_factory=list)
    _pending: bytearray = field(default_factory=bytearray)
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def plug(self) -> None:
        """A new insertion: locked again, storage hidden."""
        with self._cond:
            self.unlocked = self.msc = False
            self.wrong_passwords = 0
            self.gone = self.hung = False
            self._pending.clear()
            self._cond.notify_all()

    def unplug(self) -> None:
        with self._cond:
            self.gone = True
            self._cond.notify_all()

    def release(self) -> None:
        with self._cond:
            self.hung = False
            self.gone = True  # a released hang ends as a vanished camera
            self._cond.notify_all()

    def local_time(self) -> datetime:
        sign = -1 if self.tz.startswith("-") else 1
        h, m = self.tz[1:].split(":")
        zone = timezone(sign * timedelta(hours=int(h), minutes=int(m)))
        return (datetime.now(UTC) + self.clock_offset).astimezone(zone)

    # --- the wire -----------------------------------------------------------------------------

    def receive(self, data: bytes) -> None:
        with self._cond:
            self.transcript.append(("out", data))
            if not data.endswith(b"\r\n") or b"\r\n" in data[:-2]:
                answer = "ERR 400 one command per transfer, ending in CRLF"
            else:
                try:
                    answer = self._answer(data[:-2].decode("ascii"))
                except UnicodeDecodeError:
                    answer = "ERR 400 not ASCII"
            self._pending += b"\x00\xffgarbage\r\n" if self.garbage else (answer + "\r\n").encode("ascii")
            self._cond.notify_all()

    def send(self, size: int, timeout_ms: int) -> bytes:
        with self._cond:
            deadline = timeout_ms / 1000 if timeout_ms else None
            while not self.gone and (self.hung or not self._pending):
                if self.hung:
                    self._cond.wait()  # a wedged camera: the transfer never completes
                    continue
                if not self._cond.wait(deadline):
                    raise usb.core.USBTimeoutError("Operation timed out", errno=errno.ETIMEDOUT)
            if self.gone:
                raise usb.core.USBError("No such device", errno=errno.ENODEV)
            n = min(size, self.packet_size, len(self._pending))
            chunk = bytes(self._pending[:n])
            del self._pending[:n]
            self.transcript.append(("in", chunk))
            return chunk

    def _answer(self, line: str) -> str:
        cmd, _, arg = line.partition(" ")
        if cmd == "GET" or cmd == "SET":
            sub, _, arg = arg.partition(" ")
            cmd = f"{cmd} {sub}"
        if not self.unlocked and cmd not in OPEN_COMMANDS:
            return "ERR 403 locked"
        handler = _HANDLERS.get(cmd)
        if handler is None:
            return f"ERR 404 unknown command {cmd}"
        return handler(self, arg)


def _ok(*lines: str) -> str:
    return "\r\n".join([*lines, "OK"])


def _pwd(c: SimCamera, arg: str) -> str:
    if c.wrong_passwords >= 5:
        return "ERR 423 too many attempts; replug the camera"
    if arg != c.password:
        c.wrong_passwords += 1
        return "ERR 401 wrong password"
    c.unlocked = True
    return _ok()


def _msc(c: SimCamera, arg: str) -> str:
    if arg not in ("ON", "OFF"):
        return "ERR 400 MSC ON or MSC OFF"
    c.msc = arg == "ON"
    if c.on_msc is not None:
        c.on_msc(c.msc)
    return _ok()


def _set_time(c: SimCamera, arg: str) -> str:
    if not _TIME.match(arg):
        return "ERR 422 time must be YYYY-MM-DD HH:MM:SS"
    local = datetime.strptime(arg, "%Y-%m-%d %H:%M:%S").replace(tzinfo=c.local_time().tzinfo)
    c.clock_offset = local - datetime.now(UTC)
    return _ok()


def _set_tz(c: SimCamera, arg: str) -> str:
    if not _TZ.match(arg):
        return "ERR 422 zone must be +HH:MM or -HH:MM"
    # The camera keeps its UTC instant; the local time shown moves with the zone.
    c.tz = arg
    return _ok()


def _set_id(c: SimCamera, arg: str) -> str:
    if arg and not _ID.match(arg):
        return "ERR 422 officer id is 1-20 of A-Z a-z 0-9 _ -"
    c.officer_id = arg
    return _ok()


def _set_name(c: SimCamera, arg: str) -> str:
    if len(arg) > 32 or not arg.isascii() or not arg.isprintable():
        return "ERR 422 name is at most 32 printable ASCII characters"
    c.name = arg
    return _ok()


def _set_cfg(c: SimCamera, arg: str) -> str:
    key, sep, value = arg.partition("=")
    if not sep or key not in c.settings:
        return f"ERR 400 unknown setting {key}"
    if value not in _VALID[key]:
        return f"ERR 422 bad value for {key}"
    c.settings[key] = value
    return _ok()


_HANDLERS: dict[str, Callable[[SimCamera, str], str]] = {
    "HELLO": lambda c, a: _ok("PROTO=1", "VENDOR=AMBA"),
    "PWD": _pwd,
    "MSC": _msc,
    "GET SN": lambda c, a: _ok(f"SN={c.serial}"),
    "GET MODEL": lambda c, a: _ok(f"MODEL={c.model}"),
    "GET FW": lambda c, a: _ok(f"FW={c.firmware}"),
    "GET BAT": lambda c, a: _ok(f"BAT={c.battery}", f"CHG={int(c.charging)}"),
    "GET TIME": lambda c, a: _ok(f"TIME={c.local_time():%Y-%m-%d %H:%M:%S}", f"TZ={c.tz}"),
    "SET TIME": _set_time,
    "SET TZ": _set_tz,
    "GET ID": lambda c, a: _ok(f"ID={c.officer_id}"),
    "SET ID": _set_id,
    "GET NAME": lambda c, a: _ok(f"NAME={c.name}"),
    "SET NAME": _set_name,
    "GET CFG": lambda c, a: _ok(*(f"{k}={v}" for k, v in c.settings.items())),
    "SET CFG": _set_cfg,
}


# --- the pyusb backend --------------------------------------------------------------------------


def _desc(**fields: Any) -> SimpleNamespace:
    return SimpleNamespace(extra_descriptors=[], **fields)


class SimBackend(usb.backend.IBackend):  # type: ignore[misc]
    """Presents SimCameras to pyusb as USB devices (vendor interface 0, mass storage 1)."""

    def __init__(self, *cameras: SimCamera) -> None:
        super().__init__()
        self.cameras = list(cameras)

    def enumerate_devices(self) -> list[SimCamera]:
        return [c for c in self.cameras if not c.gone]

    def get_device_descriptor(self, dev: SimCamera) -> SimpleNamespace:
        return _desc(
            bLength=18, bDescriptorType=1, bcdUSB=0x0200, bDeviceClass=0, bDeviceSubClass=0, bDeviceProtocol=0,
            bMaxPacketSize0=64, idVendor=VENDOR_ID, idProduct=PRODUCT_ID, bcdDevice=0x0100, iManufacturer=1,
            iProduct=2, iSerialNumber=3, bNumConfigurations=1, address=dev.address, bus=dev.bus, port_number=1,
            port_numbers=(1,), speed=3,
        )

    def get_configuration_descriptor(self, dev: SimCamera, config: int) -> SimpleNamespace:
        return _desc(bLength=9, bDescriptorType=2, wTotalLength=55, bNumInterfaces=2, bConfigurationValue=1,
                     iConfiguration=0, bmAttributes=0x80, bMaxPower=250)

    def get_interface_descriptor(self, dev: SimCamera, intf: int, alt: int, config: int) -> SimpleNamespace:
        if intf == 0:
            return _desc(bLength=9, bDescriptorType=4, bInterfaceNumber=0, bAlternateSetting=0, bNumEndpoints=2,
                         bInterfaceClass=0xFF, bInterfaceSubClass=0, bInterfaceProtocol=0, iInterface=0)
        if intf == 1:
            return _desc(bLength=9, bDescriptorType=4, bInterfaceNumber=1, bAlternateSetting=0, bNumEndpoints=2,
                         bInterfaceClass=0x08, bInterfaceSubClass=0x06, bInterfaceProtocol=0x50, iInterface=0)
        raise IndexError("no such interface")

    def get_endpoint_descriptor(self, dev: SimCamera, ep: int, intf: int, alt: int, config: int) -> SimpleNamespace:
        base = 0 if intf == 0 else 2
        addr = (EP_OUT, EP_IN)[ep] + base
        return _desc(bLength=7, bDescriptorType=5, bEndpointAddress=addr, bmAttributes=2, wMaxPacketSize=512,
                     bInterval=0, bRefresh=0, bSynchAddress=0)

    def open_device(self, dev: SimCamera) -> SimCamera:
        if dev.gone:
            raise usb.core.USBError("No such device", errno=errno.ENODEV)
        return dev

    def close_device(self, dev_handle: SimCamera) -> None:
        pass

    def set_configuration(self, dev_handle: SimCamera, config_value: int) -> None:
        pass

    def get_configuration(self, dev_handle: SimCamera) -> int:
        return 1

    def claim_interface(self, dev_handle: SimCamera, intf: int) -> None:
        if dev_handle.gone:
            raise usb.core.USBError("No such device", errno=errno.ENODEV)

    def release_interface(self, dev_handle: SimCamera, intf: int) -> None:
        pass

    def is_kernel_driver_active(self, dev_handle: SimCamera, intf: int) -> bool:
        return False

    def bulk_write(self, dev_handle: SimCamera, ep: int, intf: int, data: array.array[int], timeout: int) -> int:
        if dev_handle.gone:
            raise usb.core.USBError("No such device", errno=errno.ENODEV)
        if ep != EP_OUT or intf != 0:
            raise usb.core.USBError("Pipe error", errno=errno.EPIPE)
        dev_handle.receive(data.tobytes())
        return len(data)

    def bulk_read(self, dev_handle: SimCamera, ep: int, intf: int, buff: array.array[int], timeout: int) -> int:
        if ep != EP_IN or intf != 0:
            raise usb.core.USBError("Pipe error", errno=errno.EPIPE)
        chunk = dev_handle.send(len(buff), timeout)
        buff[: len(chunk)] = array.array("B", chunk)
        return len(chunk)
