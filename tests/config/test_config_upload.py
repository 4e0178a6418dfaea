"""vault.sftp options and vault.upload (the outbox) in the config file."""

from __future__ import annotations

from pathlib import Path

import pytest

from bodydock.assembly import delivery_policy
from config import ConfigError, load_config
from tests.conftest import write_station_config


def _with_vault(tmp_path: Path, extra: str) -> Path:
    env = write_station_config(tmp_path)
    text = env.config_path.read_text()
    env.config_path.write_text(text.replace("  local: {path: vault}\n", "  local: {path: vault}\n" + extra))
    return env.config_path


def test_upload_policy_and_sftp_options(tmp_path: Path) -> None:
    path = _with_vault(tmp_path, """\
  sftp:
    host: vault.example
    user: bodydock
    private_key: keys/signing.key
    known_hosts_line: "vault.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHVh0fGoFRfqT5yK0A7bDNpgd4m6mXkHP2E9fPbq1qrZ"
    root: /incoming
    confirm: readback
    streams: 3
    io_timeout_s: 20
  upload:
    parallel: 4
    bandwidth_mbit: 80
    windows: ["22:00-06:00", "12:00-13:00"]
""")
    cfg = load_config(path, check_files=False)
    assert cfg.vault.sftp is not None and cfg.vault.sftp.confirm == "readback" and cfg.vault.sftp.streams == 3
    assert cfg.vault.sftp.io_timeout_s == 20 and cfg.vault.sftp.connect_timeout_s == 15
    policy = delivery_policy(cfg)
    assert policy.parallel == 4 and policy.bandwidth_bytes_per_s == 10_000_000
    assert [str(w) for w in policy.schedule.windows] == ["22:00-06:00", "12:00-13:00"]
    assert policy.retry_initial_s == 5 and policy.retry_max_s == 600 and policy.audit_segment_s == 900


def test_defaults_without_upload_section(tmp_path: Path) -> None:
    cfg = load_config(write_station_config(tmp_path).config_path, check_files=False)
    policy = delivery_policy(cfg)
    assert policy.parallel == 2 and policy.bandwidth_bytes_per_s is None and policy.schedule.windows == ()


@pytest.mark.parametrize("extra,key,reason", [
    ("  upload: {windows: ['07:00-07:00']}\n", "vault.upload.windows[0]", "empty"),
    ("  upload: {windows: ['25:00-26:00']}\n", "vault.upload.windows[0]", "not a valid time range"),
    ("  upload: {windows: ['7-8']}\n", "vault.upload.windows[0]", "does not match"),
    ("  upload: {retry_initial_s: 10, retry_max_s: 5}\n", "vault.upload.retry_max_s", "less than"),
    ("  upload: {parallel: 0}\n", "vault.upload.parallel", "minimum"),
    ("  upload: {bandwith_mbit: 10}\n", "vault.upload.bandwith_mbit", "unknown key"),
])
def test_bad_upload_settings_are_named(tmp_path: Path, extra: str, key: str, reason: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(_with_vault(tmp_path, extra), check_files=False)
    assert any(k == key and reason in r for k, r in err.value.errors), err.value.format_all()
