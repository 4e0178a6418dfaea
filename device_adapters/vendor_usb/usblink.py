"""The protocol's byte pipe over pyusb: the vendor interface's two bulk endpoints.

pyusb has no type information; this is the only module that touches it.
"""

from __future__ import annotations

import contextlib
import errno
from pathlib import Path
from typing import Any

import usb.core
import usb.util

from device_adapters.api import AdapterError, CameraGone
from device_adapters.vendor_usb import PRODUCT_ID, VENDOR_ID
from device_adapters.vendor_usb.protocol import Link, NoAnswer

VENDOR_CLASS = 0xFF
_GONE = frozenset({errno.ENODEV, errno.ENOENT, errno.ESHUTDOWN, errno.EPIPE})


def bus_address(sys_dir: str) -> tuple[int, int]:
    """(bus, device address) of the USB device whose sysfs directory is ``sys_dir``."""
    try:
        d = Path(sys_dir)
        return int((d / "busnum").read_text()), int((d / "devnum").read_text())
    except FileNotFoundError as exc:
        raise CameraGone(f"USB device {sys_dir} is gone") from exc
    except (OSError, ValueError) as exc:
        raise AdapterError(f"cannot read the bus address of {sys_dir}: {exc}") from exc


def _mapped(exc: Exception, what: str) -> AdapterError:
    if isinstance(exc, usb.core.USBTimeoutError):
        return NoAnswer(f"camera did not answer ({what})")
    code = getattr(exc, "errno", None)
    if code in _GONE:
        return CameraGone(f"camera disconnected ({what}): {exc}")
    return AdapterError(f"USB error ({what}): {exc}")


class UsbLink(Link):
    def __init__(self, bus: int, address: int, *, backend: Any = None) -> None:
        try:
            dev = usb.core.find(bus=bus, address=address, backend=backend)
        except usb.core.USBError as exc:
            raise _mapped(exc, "find") from exc
        if dev is None:
            raise CameraGone(f"no USB device at bus {bus} address {address}")
        if (dev.idVendor, dev.idProduct) != (VENDOR_ID, PRODUCT_ID):
            raise AdapterError(f"device at {bus}:{address} is {dev.idVendor:04x}:{dev.idProduct:04x}, not the camera")
        try:
            try:
                cfg = dev.get_active_configuration()
            except usb.core.USBError:
                dev.set_configuration()
                cfg = dev.get_active_configuration()
            intf = usb.util.find_descriptor(cfg, bInterfaceClass=VENDOR_CLASS)
            if intf is None:
                raise AdapterError("camera has no vendor interface")
            number = intf.bInterfaceNumber
            try:
                if dev.is_kernel_driver_active(number):
                    dev.detach_kernel_driver(number)
            except (NotImplementedError, usb.core.USBError):
                pass  # no kernel driver on a vendor interface, or a backend that cannot tell
            usb.util.claim_interface(dev, number)
            self._out = _endpoint(intf, usb.util.ENDPOINT_OUT)
            self._in = _endpoint(intf, usb.util.ENDPOINT_IN)
        except usb.core.USBError as exc:
            usb.util.dispose_resources(dev)
            raise _mapped(exc, "open") from exc
        self._dev = dev
        self._intf = number

    def write(self, data: bytes, timeout_ms: int) -> None:
        try:
            n = self._dev.write(self._out, data, timeout_ms)
        except usb.core.USBError as exc:
            raise _mapped(exc, "write") from exc
        if n != len(data):
            raise AdapterError(f"camera took {n} of {len(data)} bytes")

    def read(self, size: int, timeout_ms: int) -> bytes:
        try:
            return bytes(self._dev.read(self._in, size, timeout_ms))
        except usb.core.USBError as exc:
            raise _mapped(exc, "read") from exc

    def close(self) -> None:
        with contextlib.suppress(usb.core.USBError):  # gone already
            usb.util.release_interface(self._dev, self._intf)
        usb.util.dispose_resources(self._dev)


def _endpoint(intf: Any, direction: int) -> int:
    ep = usb.util.find_descriptor(
        intf,
        custom_match=lambda e: usb.util.endpoint_direction(e.bEndpointAddress) == direction
        and usb.util.endpoint_type(e.bmAttributes) == usb.util.ENDPOINT_TYPE_BULK,
    )
    if ep is None:
        raise AdapterError("camera's vendor interface lacks a bulk endpoint")
    return int(ep.bEndpointAddress)
