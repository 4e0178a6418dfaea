"""vault.target: s3 in the station config: the bucket, a credentials file (never inline keys)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from config import ConfigError, load_config
from tests.conftest import write_station_config
from upload import make_target
from upload.s3_target import S3Target


def _s3_config(tmp_path: Path, s3: str, mode: int = 0o600) -> Path:
    env = write_station_config(tmp_path)
    creds = tmp_path / "vault-s3.credentials"
    fd = os.open(creds, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    os.write(fd, b"[default]\naws_access_key_id = AK\naws_secret_access_key = SK\n")
    os.close(fd)
    os.chmod(creds, mode)
    text = env.config_path.read_text().replace("  target: local\n", "  target: s3\n")
    env.config_path.write_text(text.replace("  local: {path: vault}\n", "  local: {path: vault}\n" + s3))
    return env.config_path


S3 = """\
  s3:
    endpoint: https://s3.vault.example:7480
    bucket: bodycam-footage
    credentials_file: vault-s3.credentials
    ca_file: vault-ca.pem
    part_size_mib: 8
    parallel_parts: 6
    object_lock_days: 7
"""


def test_s3_section_builds_the_target(tmp_path: Path) -> None:
    cfg = load_config(_s3_config(tmp_path, S3), check_files=True)
    s3 = cfg.vault.s3
    assert s3 is not None and s3.bucket == "bodycam-footage"
    assert s3.credentials_file == tmp_path / "vault-s3.credentials"
    assert s3.ca_file == tmp_path / "vault-ca.pem" and s3.part_size_mib == 8 and s3.object_lock_days == 7
    assert s3.confirm == "checksum" and s3.region == "us-east-1"
    target = make_target(cfg.vault)
    assert isinstance(target, S3Target)
    assert target.s.part_size == 8 * 1024 * 1024 and target.s.parallel_parts == 6


def test_loose_credentials_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(_s3_config(tmp_path, S3, mode=0o644), check_files=True)
    assert "vault.s3.credentials_file" in str(info.value) and "chmod 600" in str(info.value)


@pytest.mark.parametrize("extra,key", [
    ("    secret_access_key: SK\n", "vault.s3.secret_access_key"),
    ("    access_key_id: AK\n", "vault.s3.access_key_id"),
])
def test_inline_keys_are_refused(tmp_path: Path, extra: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(_s3_config(tmp_path, S3 + extra), check_files=False)
    assert key in str(info.value) and "SK\n" not in str(info.value)


def test_s3_target_needs_its_section(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="s3"):
        load_config(_s3_config(tmp_path, ""), check_files=False)
