"""Secrets come only from files with strict permissions: an inline one is refused at load, by key path."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from config import ConfigError, load_config
from tests.conftest import config_with_adapter_options


@pytest.mark.parametrize("options,key_path", [
    ({"vendor_usb": {"password": "hunter2"}}, "adapters.options.vendor_usb.password"),
    ({"vendor_usb": {"password": 123456}}, "adapters.options.vendor_usb.password"),
    ({"acme": {"cloud": {"apiToken": "abc"}}}, "adapters.options.acme.cloud.apiToken"),
    ({"acme": {"unlock": [{"admin_pin": "0000"}]}}, "adapters.options.acme.unlock[0].admin_pin"),
])
def test_an_inline_secret_is_refused_naming_its_key(tmp_path: Path, options: dict[str, Any], key_path: str) -> None:
    path = config_with_adapter_options(tmp_path, options)
    for check_files in (True, False):  # refused even where the key files are not checked
        with pytest.raises(ConfigError) as info:
            load_config(path, check_files=check_files)
        assert info.value.key_path == key_path
        assert "inline secret" in info.value.reason and "_file" in info.value.reason
        assert "hunter2" not in str(info.value) and "0000" not in str(info.value)  # never echoed


def test_a_secret_file_needs_strict_permissions(tmp_path: Path) -> None:
    secret = tmp_path / "camera-password"
    secret.write_text("hunter2\n")
    os.chmod(secret, 0o644)
    options = {"vendor_usb": {"password_file": str(secret), "camera_timezone": "Europe/Amsterdam",
                              "require_pin": True, "pin_length": 4}}
    path = config_with_adapter_options(tmp_path, options)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.key_path == "adapters.options.vendor_usb.password_file"
    os.chmod(secret, 0o600)
    cfg = load_config(path)
    assert cfg.adapters.options["vendor_usb"]["password_file"] == secret
