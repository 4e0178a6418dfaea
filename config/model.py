"""The validated station configuration as frozen dataclasses.

Instances come from :func:`config.loader.load_config`; all paths in them are absolute. The
defaults here are the defaults of the config file (the schema's ``default`` annotations are
documentation and are checked against these by a test).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Language = Literal["nl", "en"]
DockSource = Literal["simulated", "udev"]
VaultTarget = Literal["local", "sftp"]
SftpConfirm = Literal["size", "readback"]
VerifyPolicy = Literal["device-hash", "reread", "both"]
WipeAfter = Literal["local_verified", "vault_confirmed"]

DEFAULT_TIMEZONE = "Europe/Amsterdam"
DEFAULT_LANGUAGE: Language = "nl"
DEFAULT_RESERVE_MB = 2048
DEFAULT_SFTP_PORT = 22


@dataclass(frozen=True)
class StationIdentity:
    id: str
    name: str
    timezone: str = DEFAULT_TIMEZONE
    language: Language = DEFAULT_LANGUAGE


@dataclass(frozen=True)
class SlotConfig:
    id: int
    label: str
    # Every port chain (USB 2 and USB 3 enumerate separately) that leads to this slot.
    usb_ports: tuple[str, ...]


@dataclass(frozen=True)
class DockConfig:
    source: DockSource
    simulated_path: Path | None = None


@dataclass(frozen=True)
class StoreConfig:
    path: Path
    reserve_bytes: int = DEFAULT_RESERVE_MB * 1024 * 1024


@dataclass(frozen=True)
class SftpConfig:
    host: str
    port: int
    user: str
    private_key: Path
    known_hosts_line: str  # pins the vault's SSH host key; no trust-on-first-use
    root: str  # a path on the vault server, so kept as text and never resolved locally
    # After fsync and the size check: also read the file back and compare its SHA-256.
    confirm: SftpConfirm = "size"
    streams: int = 2  # parallel SFTP channels per file (one is capped at 2 MiB per round trip)
    connect_timeout_s: float = 15
    io_timeout_s: float = 60  # no progress for this long: the connection is dropped and retried
    keepalive_s: float = 15


@dataclass(frozen=True)
class UploadPolicy:
    """The outbox: how, when and how fast footage goes to the vault."""

    parallel: int = 2  # recordings uploaded at the same time
    bandwidth_mbit: float | None = None  # cap for all uploads together; None = no cap
    windows: tuple[str, ...] = ()  # "HH:MM-HH:MM" in station time; empty = always
    retry_initial_s: float = 5
    retry_max_s: float = 600
    audit_segment_minutes: float = 15  # how often the audit log goes to the vault


@dataclass(frozen=True)
class VaultConfig:
    """Where sealed footage goes. ``target`` decides which of ``local_path``/``sftp`` is used;
    the other may still be set if the file configures both."""

    target: VaultTarget
    local_path: Path | None
    sftp: SftpConfig | None
    recipients: tuple[str, ...]  # normalised age1... strings
    upload: UploadPolicy = UploadPolicy()


@dataclass(frozen=True)
class KeysConfig:
    signing_key: Path


@dataclass(frozen=True)
class Policies:
    verify: VerifyPolicy = "reread"
    wipe_after: WipeAfter = "local_verified"
    min_battery_percent: int = 80
    retention_days: int = 28
    max_parallel_offloads: int = 8
    max_parallel_per_controller: int = 4
    chunk_kib: int = 1024
    step_timeout_s: int = 600
    store_readback: bool = False


@dataclass(frozen=True)
class StationConfig:
    station: StationIdentity
    state_dir: Path
    slots: tuple[SlotConfig, ...]
    dock: DockConfig
    store: StoreConfig
    vault: VaultConfig
    keys: KeysConfig
    policies: Policies
    # The file this was loaded from (absolute); relative paths in it were resolved against its
    # directory.
    source_file: Path
