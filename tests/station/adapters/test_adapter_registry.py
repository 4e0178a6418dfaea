"""Adapter discovery and matching by descriptor: picked without importing adapter code."""

from __future__ import annotations

import importlib.metadata as md
import subprocess
import sys

import pytest

import station.adapters.registry
from device_adapters.api import API_VERSION, AdapterDescriptor, Capability, LocatorKind
from station.adapters.registry import AdapterRegistry, DeviceFacts, best_match, discover, match_score
from tests.conftest import ROOT


def _m(name: str, **kw: object) -> AdapterDescriptor:
    return AdapterDescriptor(name=name, vendor="t", api_version=API_VERSION, capabilities=frozenset(), **kw)  # type: ignore[arg-type]


MSC = {"ID_USB_INTERFACES": ":080650:", "ID_BUS": "usb"}


def test_usb_ids_beat_properties_and_more_properties_beat_fewer() -> None:
    generic = _m("generic", udev_properties=(("ID_USB_INTERFACES", "*:0806??:*"),))
    generic2 = _m("generic2", udev_properties=(("ID_USB_INTERFACES", "*:0806??:*"), ("ID_BUS", "usb")))
    vendor = _m("vendor", usb_ids=((0x4255, 0x0001),))
    nothing = _m("simulated")
    ms = {m.name: m for m in (generic, generic2, vendor, nothing)}
    cam = DeviceFacts(0x4255, 0x0001, MSC)
    other = DeviceFacts(0x0781, 0x5567, MSC)
    keyboard = DeviceFacts(0x046D, 0xC31C, {"ID_USB_INTERFACES": ":030101:"})
    assert best_match(ms, cam) is vendor
    assert best_match(ms, other) is generic2
    assert best_match(ms, keyboard) is None
    assert match_score(nothing, cam) is None  # no matchers: only used by name (simulated dock)
    # usb_ids and properties must both hold when both are given
    both = _m("both", usb_ids=((0x4255, 0x0001),), udev_properties=(("ID_MODEL", "BC*"),))
    assert match_score(both, cam) is None
    assert match_score(both, DeviceFacts(0x4255, 0x0001, {"ID_MODEL": "BC300"})) == 1010


def test_installed_bundled_adapters_are_discovered() -> None:
    found = discover()
    assert {"simulated", "mass_storage", "vendor_usb"} <= set(found)
    assert found["mass_storage"].locator is LocatorKind.BLOCK
    assert found["vendor_usb"].locator is LocatorKind.USB
    assert Capability.WIPE in found["mass_storage"].capabilities


def test_matching_imports_no_adapter_code() -> None:
    code = (
        "import sys\n"
        "from station.adapters.registry import AdapterRegistry, DeviceFacts\n"
        "r = AdapterRegistry()\n"
        "m = r.match(DeviceFacts(0x4255, 0x0001, {'ID_USB_INTERFACES': ':ff0000:080650:'}))\n"
        "g = r.bind(m.name, '/nonexistent', slot_id=1)\n"
        "print(m.name)\n"
        "print(','.join(sorted(n for n in sys.modules if n.startswith('device_adapters.') and n.count('.') > 1)))\n"
        "print(','.join(sorted(n for n in ('usb', 'pyudev') if n in sys.modules)))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    name, imported, libs = [*r.stdout.splitlines(), "", ""][:3]
    assert name == "vendor_usb"
    assert imported == "" and libs == ""


def test_broken_entry_point_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    real = md.entry_points

    def fake(group: str) -> list[md.EntryPoint]:
        eps = list(real(group=group))
        return [*eps, md.EntryPoint("broken", "no_such_module_xyz:DESCRIPTOR", group)]

    monkeypatch.setattr(station.adapters.registry, "entry_points", fake)
    reg = AdapterRegistry()
    assert "broken" in reg.errors and "simulated" in reg.descriptors
