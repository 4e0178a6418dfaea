"""Config keys of the udev dock and the adapters: defaults, paths, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import load_config
from config.loader import ConfigError
from config.model import AdaptersConfig, DockConfig, HubPort
from tests.conftest import write_station_config


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_defaults(tmp_path: Path) -> None:
    cfg = write_station_config(tmp_path).load()
    assert (cfg.dock.readiness_timeout_s, cfg.dock.debounce_ms, cfg.dock.uhubctl_command) == (10, 250, "uhubctl")
    assert cfg.adapters == AdaptersConfig()
    assert all(s.uhubctl is None for s in cfg.slots)
    assert DockConfig("udev").debounce_ms == 250


def test_udev_dock_uhubctl_and_adapter_options(tmp_path: Path) -> None:
    env = write_station_config(tmp_path)
    _edit(env.config_path, "dock: {source: simulated, simulated_path: dock}",
          "dock: {source: udev, readiness_timeout_s: 2.5, debounce_ms: 100}")
    _edit(env.config_path, '  - id: 2\n    usb_ports: ["1-1.2"]',
          '  - id: 2\n    usb_ports: ["1-1.2", "2-1.2"]\n    uhubctl: {hub: "1-1", port: 2}')
    env.config_path.write_text(env.config_path.read_text() + (
        "adapters:\n  call_timeout_s: 5\n  options:\n"
        "    vendor_usb: {password_file: secrets/cam.pw, camera_timezone: UTC}\n"
        "    mass_storage: {roots: [DCIM, VIDEO]}\n"))
    (tmp_path / "secrets").mkdir(mode=0o700)
    (tmp_path / "secrets" / "cam.pw").touch(mode=0o600)  # a secret file is checked like every key file
    cfg = load_config(env.config_path)
    assert cfg.dock.source == "udev" and cfg.dock.readiness_timeout_s == 2.5 and cfg.dock.debounce_ms == 100
    assert cfg.slots[1].uhubctl == HubPort("1-1", 2) and cfg.slots[1].usb_ports == ("1-1.2", "2-1.2")
    assert cfg.adapters.call_timeout_s == 5 and cfg.adapters.wipe_timeout_s == 300
    assert cfg.adapters.options["vendor_usb"]["password_file"] == tmp_path / "secrets" / "cam.pw"
    assert cfg.adapters.options["mass_storage"]["roots"] == ["DCIM", "VIDEO"]


@pytest.mark.parametrize(("old", "new", "where"), [
    ("dock: {source: simulated, simulated_path: dock}", "dock: {source: udev, debounce_ms: -1}", "dock.debounce_ms"),
    ("dock: {source: simulated, simulated_path: dock}", "dock: {source: udev, readiness: 3}", "dock"),
    ('  - id: 1\n    usb_ports: ["1-1.1"]', '  - id: 1\n    usb_ports: ["1-1.1"]\n    uhubctl: {hub: "x", port: 1}',
     "slots[0].uhubctl.hub"),
])
def test_bad_values_name_the_key(tmp_path: Path, old: str, new: str, where: str) -> None:
    env = write_station_config(tmp_path)
    _edit(env.config_path, old, new)
    with pytest.raises(ConfigError) as exc:
        load_config(env.config_path)
    assert where in str(exc.value)
