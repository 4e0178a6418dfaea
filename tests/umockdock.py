"""A fake dock in a umockdev testbed: USB cameras and their block devices appearing and leaving.

Used by the udev tests and by bench/detect.py; only works inside ``umockdev-wrapper`` (which
LD_PRELOADs the library that redirects /sys, /dev and the udev socket into the testbed).
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from pathlib import Path

import gi

gi.require_version("UMockdev", "1.0")
from gi.repository import UMockdev  # noqa: E402

PCI = "/devices/pci0000:00/0000:00:14.0"


def under_umockdev() -> bool:
    return "umockdev" in os.environ.get("LD_PRELOAD", "")


@dataclass
class Plugged:
    port: str
    usb: str  # sysfs path of the USB device (with /sys)
    children: list[str] = field(default_factory=list)  # sysfs paths, parents before children
    nodes: list[str] = field(default_factory=list)  # device node names under /dev
    devnum: int = 0

    @property
    def partition_node(self) -> str:
        return f"/dev/{self.nodes[-1]}"


class UMockDock:
    def __init__(self) -> None:
        self.tb = UMockdev.Testbed.new()
        self.root = Path(self.tb.get_root_dir())
        self._devnum = itertools.count(10)
        self._disk = itertools.count(1)
        self._hubs: set[str] = set()
        for bus in (1, 2):
            self._add(f"P: {PCI}/usb{bus}\nE: SUBSYSTEM=usb\nE: DEVTYPE=usb_device\nA: bDeviceClass=09\n"
                      f"A: busnum={bus}\nA: devnum=1\n")

    def _add(self, record: str) -> None:
        if not self.tb.add_from_string(record):
            raise RuntimeError(f"umockdev refused:\n{record}")

    def usb_path(self, port: str) -> str:
        bus, _, chain = port.partition("-")
        steps = chain.split(".")
        parts = [f"{bus}-{'.'.join(steps[: i + 1])}" for i in range(len(steps))]
        return f"{PCI}/usb{bus}/" + "/".join(parts)

    def _hub_for(self, port: str) -> None:
        """The dock's own hub above a nested port (e.g. 1-1 above 1-1.3), once."""
        if "." not in port:
            return
        hub = port.rsplit(".", 1)[0]
        if hub in self._hubs:
            return
        self._hub_for(hub)
        self._hubs.add(hub)
        bus = hub.split("-")[0]
        self._add(f"P: {self.usb_path(hub)}\nE: SUBSYSTEM=usb\nE: DEVTYPE=usb_device\nA: bDeviceClass=09\n"
                  f"A: busnum={bus}\nA: devnum={next(self._devnum)}\n")

    def _usb_record(self, port: str, vid: str, pid: str, interfaces: str, devnum: int, product: str) -> str:
        bus = port.split("-")[0]
        return (
            f"P: {self.usb_path(port)}\nE: SUBSYSTEM=usb\nE: DEVTYPE=usb_device\n"
            f"E: ID_VENDOR_ID={vid}\nE: ID_MODEL_ID={pid}\nE: ID_USB_INTERFACES={interfaces}\n"
            f"E: BUSNUM={int(bus):03d}\nE: DEVNUM={devnum:03d}\nE: PRODUCT={int(vid, 16):x}/{int(pid, 16):x}/100\n"
            f"A: idVendor={vid}\nA: idProduct={pid}\nA: busnum={bus}\nA: devnum={devnum}\nA: bDeviceClass=00\n"
            f"A: product={product}\nA: serial=SN{devnum:06d}\n"
        )

    def plug_storage(self, port: str, *, image: bytes = b"", vid: str = "0781", pid: str = "5567",
                     reverse: bool = False, partitioned: bool = True, bind: bool = True) -> Plugged:
        """A mass-storage camera: USB device, interface, disk and (if partitioned) partition 1.

        ``reverse`` delivers the add events children first, as a lost-and-replayed or racing
        event stream can. The last block node holds ``image``.
        """
        self._hub_for(port)
        devnum = next(self._devnum)
        disk = f"sd{chr(ord('a') + next(self._disk) % 26)}"
        usb = self.usb_path(port)
        intf = f"{usb}/{port}:1.0"
        disk_path = f"{intf}/host{devnum}/target{devnum}:0:0/{devnum}:0:0:0/block/{disk}"
        records = [
            self._usb_record(port, vid, pid, ":080650:", devnum, "Body Camera"),
            f"P: {intf}\nE: SUBSYSTEM=usb\nE: DEVTYPE=usb_interface\nE: INTERFACE=8/6/80\n",
            f"P: {disk_path}\nN: {disk}\nE: SUBSYSTEM=block\nE: DEVTYPE=disk\nE: DEVNAME=/dev/{disk}\n"
            + ("E: ID_PART_TABLE_TYPE=dos\n" if partitioned else "E: ID_FS_TYPE=exfat\n"),
        ]
        plugged = Plugged(port, "/sys" + usb, ["/sys" + intf, "/sys" + disk_path], [disk], devnum)
        if partitioned:
            part = f"{disk}1"
            records.append(f"P: {disk_path}/{part}\nN: {part}\nE: SUBSYSTEM=block\nE: DEVTYPE=partition\n"
                           f"E: DEVNAME=/dev/{part}\nE: ID_FS_TYPE=exfat\nA: partition=1\n")
            plugged.children.append(f"/sys{disk_path}/{part}")
            plugged.nodes.append(part)
        if reverse:
            records.reverse()
        # Content first, so the node is complete when its add event is seen.
        self._add("\n".join(records))
        if image:
            (self.root / "dev" / plugged.nodes[-1]).write_bytes(image)
        if bind:
            self.tb.uevent(plugged.usb, "bind")
        return plugged

    def plug_vendor(self, port: str, *, bind: bool = True) -> Plugged:
        self._hub_for(port)
        devnum = next(self._devnum)
        self._add(self._usb_record(port, "4255", "0001", ":ff0000:080650:", devnum, "Body Camera A7"))
        plugged = Plugged(port, "/sys" + self.usb_path(port), devnum=devnum)
        if bind:
            self.tb.uevent(plugged.usb, "bind")
        return plugged

    def bind(self, p: Plugged) -> None:
        self.tb.uevent(p.usb, "bind")

    def unbind(self, p: Plugged) -> None:
        self.tb.uevent(p.usb, "unbind")

    def unplug(self, p: Plugged) -> None:
        """Children's remove events first (as the kernel sends them), then the device goes."""
        for path in reversed(p.children):
            self.tb.uevent(path, "remove")
        self.tb.uevent(p.usb, "remove")
        # One by one, deepest first: umockdev cleans a device's /sys/bus and /sys/class links only
        # when that device itself is removed, and a stale link breaks re-adding the same name.
        for path in [*reversed(p.children), p.usb]:
            self.tb.remove_device(path)
        for node in p.nodes:
            (self.root / "dev" / node).unlink(missing_ok=True)
            # umockdev leaves these links dangling; a stale one breaks re-using the disk name.
            for links in ("sys/block", "sys/class/block"):
                (self.root / links / node).unlink(missing_ok=True)
