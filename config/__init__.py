"""Station configuration: the YAML file format, its schema and the validated model.

Use :func:`load_config`; it raises :class:`ConfigError` naming the file, the key path and the
reason for every problem. ``example.yaml`` (see :func:`example_config_path`) documents every key.
"""

from __future__ import annotations

from pathlib import Path

from config.loader import ConfigError, load_config, load_schema
from config.model import (
    DockConfig,
    DockSource,
    KeysConfig,
    Language,
    Policies,
    SftpConfig,
    SftpConfirm,
    SlotConfig,
    StationConfig,
    StationIdentity,
    StoreConfig,
    UploadPolicy,
    VaultConfig,
    VaultKind,
    VerifyPolicy,
    WipeAfter,
)


def example_config_path() -> Path:
    """Path of the shipped, fully commented example config."""
    return Path(__file__).with_name("example.yaml")


__all__ = [
    "ConfigError",
    "DockConfig",
    "DockSource",
    "KeysConfig",
    "Language",
    "Policies",
    "SftpConfig",
    "SftpConfirm",
    "SlotConfig",
    "StationConfig",
    "StationIdentity",
    "StoreConfig",
    "UploadPolicy",
    "VaultConfig",
    "VaultKind",
    "VerifyPolicy",
    "WipeAfter",
    "example_config_path",
    "load_config",
    "load_schema",
]
