"""The image's udev rule comes from the adapters' descriptors (image_build/udev_rule.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from device_adapters.api import API_VERSION, AdapterDescriptor, Capability
from image_build.udev_rule import render, rules_for
from station.adapters.registry import discover

ROOT = Path(__file__).resolve().parents[2]


def _descriptor(**kw: object) -> AdapterDescriptor:
    return AdapterDescriptor(name="x", vendor="v", api_version=API_VERSION, capabilities=frozenset({Capability.WIPE}),
                             **kw)  # type: ignore[arg-type]


def test_usb_ids_give_the_usb_device_and_its_block_devices_to_the_station_group() -> None:
    lines = rules_for(_descriptor(usb_ids=((0x4255, 0x0001),)))
    assert lines == [
        'SUBSYSTEM=="usb", ENV{DEVTYPE}=="usb_device", ATTR{idVendor}=="4255", ATTR{idProduct}=="0001", '
        'GROUP="bodydock", MODE="0660"',
        'SUBSYSTEM=="block", ENV{ID_BUS}=="usb", ENV{ID_USB_VENDOR_ID}=="4255", ENV{ID_USB_MODEL_ID}=="0001", '
        'GROUP="bodydock", MODE="0660"',
    ]


def test_udev_properties_are_matched_as_globs_on_both_subsystems() -> None:
    lines = rules_for(_descriptor(udev_properties=(("ID_USB_INTERFACES", "*:0806??:*"),)))
    assert all('ENV{ID_USB_INTERFACES}=="*:0806??:*"' in line for line in lines) and len(lines) == 2


def test_a_descriptor_that_never_matches_usb_gets_no_rule() -> None:
    assert rules_for(_descriptor()) == []  # the simulator: nothing on the dock becomes accessible for it


def test_the_rule_covers_every_installed_adapter_that_matches_usb() -> None:
    found = discover()
    text = render(found)
    for name, d in found.items():
        assert (f"# adapter {name} " in text) == bool(d.usb_ids or d.udev_properties), name
    assert text.splitlines()[-1] == 'LABEL="bodydock_cameras_end"'
    # The script prints the same rule the build installs.
    out = subprocess.run([sys.executable, str(ROOT / "image_build" / "udev_rule.py")], capture_output=True,
                         text=True, check=True).stdout
    assert out == text
