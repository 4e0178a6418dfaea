"""The udev rule that gives the station access to known cameras, generated from the adapters' descriptors.

Run with the Python that has the station's adapters installed (the image's venv at build time): every
descriptor found by ``station.adapters.registry.discover()`` with USB ids or udev properties gets
rules for its USB device node (``/dev/bus/usb/...``, for protocol adapters) and its block devices
(disk and partitions, for storage adapters), owned by the station's group, mode 0660. Nothing
else on the dock becomes accessible to the station. Descriptors that never match a USB device
(the simulator) get no rule.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from device_adapters.api import AdapterDescriptor

GROUP = "bodydock"
RULE_FILE = "70-bodydock-cameras.rules"  # after 60-persistent-storage, which sets the ID_USB_* properties


def _quote(value: str) -> str:
    if '"' in value or "\n" in value:
        raise ValueError(f"udev value {value!r} cannot be quoted")
    return f'"{value}"'


def rules_for(d: AdapterDescriptor, group: str = GROUP) -> list[str]:
    grant = f'GROUP="{group}", MODE="0660"'
    props = ", ".join(f"ENV{{{k}}}=={_quote(v)}" for k, v in d.udev_properties)
    lines: list[str] = []
    if d.usb_ids:
        for vid, pid in d.usb_ids:
            match = f'ATTR{{idVendor}}=="{vid:04x}", ATTR{{idProduct}}=="{pid:04x}"'
            blk = f'ENV{{ID_USB_VENDOR_ID}}=="{vid:04x}", ENV{{ID_USB_MODEL_ID}}=="{pid:04x}"'
            extra = f", {props}" if props else ""
            lines.append(f'SUBSYSTEM=="usb", ENV{{DEVTYPE}}=="usb_device", {match}{extra}, {grant}')
            lines.append(f'SUBSYSTEM=="block", ENV{{ID_BUS}}=="usb", {blk}{extra}, {grant}')
    elif props:
        lines.append(f'SUBSYSTEM=="usb", ENV{{DEVTYPE}}=="usb_device", {props}, {grant}')
        lines.append(f'SUBSYSTEM=="block", ENV{{ID_BUS}}=="usb", {props}, {grant}')
    return lines


def render(descriptors: Mapping[str, AdapterDescriptor], group: str = GROUP) -> str:
    out = [
        "# Generated from the camera adapters' descriptors by image_build/udev_rule.py: do not edit.",
        f"# Known cameras' USB and block devices belong to the station's group ({group}), mode 0660.",
        'ACTION=="remove", GOTO="bodydock_cameras_end"',
    ]
    for name in sorted(descriptors):
        d = descriptors[name]
        lines = rules_for(d, group)
        if not lines:
            continue
        out.append(f"# adapter {name} ({d.vendor}): {d.description.split(':')[0] if d.description else name}")
        out += lines
    out.append('LABEL="bodydock_cameras_end"')
    return "\n".join(out) + "\n"


def main() -> int:
    from station.adapters.registry import discover

    errors: dict[str, str] = {}
    found = discover(errors)
    if errors:
        print(f"udev_rule: adapters that failed to load: {errors}", file=sys.stderr)
        return 1
    sys.stdout.write(render(found))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
