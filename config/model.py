"""The validated station configuration as frozen dataclasses.

Instances come from :func:`config.loader.load_config`; all paths in them are absolute. The
defaults here are the defaults of the config file (the schema's ``default`` annotations are
documentation and are checked against these by a test).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Language = Literal["nl", "en"]
DockSource = Literal["simulated", "udev"]
VaultKind = Literal["local", "sftp", "s3"]  # which vault target a station delivers to
SftpConfirm = Literal["size", "readback"]
S3Confirm = Literal["checksum", "readback"]
VerifyPolicy = Literal["device-hash", "reread", "both"]
WipeAfter = Literal["local_verified", "vault_confirmed"]
HealthAuthMode = Literal["token", "basic"]
ClockSource = Literal["auto", "timedatectl", "chrony", "none"]

RosterSourceKind = Literal["file", "vault"]
CheckoutPolicy = Literal["pool", "personal"]
ClockSyncSource = Literal["auto", "timedatectl", "chrony", "kernel"]
BadgeSource = Literal["none", "evdev"]

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
class HubPort:
    """Where uhubctl switches a slot's power: ``uhubctl -l <hub> -p <port>``."""

    hub: str
    port: int


@dataclass(frozen=True)
class SlotConfig:
    id: int
    label: str
    # Every port chain (USB 2 and USB 3 enumerate separately) that leads to this slot.
    usb_ports: tuple[str, ...]
    uhubctl: HubPort | None = None


@dataclass(frozen=True)
class DockConfig:
    source: DockSource
    simulated_path: Path | None = None
    readiness_timeout_s: float = 10.0
    debounce_ms: int = 250
    uhubctl_command: str = "uhubctl"


@dataclass(frozen=True)
class AdaptersConfig:
    call_timeout_s: float = 30.0
    list_timeout_s: float = 120.0
    read_timeout_s: float = 30.0
    wipe_timeout_s: float = 300.0
    # Adapter name -> factory keyword options (paths already resolved against the config file).
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


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
    streams: int = 3  # parallel SFTP channels per file (one is capped at 2 MiB per round trip)
    connect_timeout_s: float = 15
    io_timeout_s: float = 60  # no progress for this long: the connection is dropped and retried
    keepalive_s: float = 15


@dataclass(frozen=True)
class S3Config:
    """An S3-compatible vault (Ceph RGW, MinIO, AWS): the bucket, and a credentials file, never inline keys."""

    endpoint: str  # https://... in production; the CA below is then pinned
    bucket: str
    credentials_file: Path  # AWS-style [default] aws_access_key_id / aws_secret_access_key, mode 0600
    region: str = "us-east-1"
    ca_file: Path | None = None
    prefix: str = ""  # key prefix inside the bucket, e.g. "docks/"
    part_size_mib: int = 16
    parallel_parts: int = 4
    object_lock_days: int = 0  # GOVERNANCE retention floor on every object the dock writes; 0 = off
    confirm: S3Confirm = "checksum"  # part MD5s, the object's ETag and stored SHA-256; 'readback' also reads it
    connect_timeout_s: float = 15
    io_timeout_s: float = 60


@dataclass(frozen=True)
class UploadPolicy:
    """The outbox: how, when and how fast footage goes to the vault."""

    parallel: int = 2  # recordings uploaded at the same time
    bandwidth_mbit: float | None = None  # cap for all uploads together; None = no cap
    windows: tuple[str, ...] = ()  # "HH:MM-HH:MM" in station time; empty = always
    retry_initial_s: float = 5
    retry_max_s: float = 600
    audit_segment_minutes: float = 15  # how often the audit log goes to the vault
    # SFTP and S3 transfers in a process of their own, beside the offloads (not the local folder)
    separate_process: bool = True


@dataclass(frozen=True)
class VaultConfig:
    """Where sealed footage goes. ``target`` decides which of ``local_path``/``sftp`` is used;
    the other may still be set if the file configures both."""

    target: VaultKind
    local_path: Path | None
    sftp: SftpConfig | None
    recipients: tuple[str, ...]  # normalised age1... strings
    upload: UploadPolicy = UploadPolicy()
    s3: S3Config | None = None


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
class RosterConfig:
    """Who may take cameras: a YAML file on the dock, or one in the vault signed by ``public_key``."""

    source: RosterSourceKind
    file: Path | None = None
    vault_path: str | None = None  # relative to the vault root; the signature is <vault_path>.sig
    public_key: str | None = None  # "ed25519:..." of the municipality's roster signing key
    refresh_minutes: float = 15


@dataclass(frozen=True)
class PinLockoutConfig:
    attempts: int = 5  # wrong PINs within `minutes` ...
    minutes: float = 15  # ... lock the personnel number for this long


@dataclass(frozen=True)
class RecordingPolicyConfig:
    """Pushed to the camera at check-out (where it supports push_settings)."""

    prebuffer_s: int = 30
    prebuffer_audio: bool = False
    warning_tone: bool = True
    warning_led: bool = True


@dataclass(frozen=True)
class BadgeConfig:
    source: BadgeSource = "none"
    device: Path | None = None  # the reader's evdev node, e.g. /dev/input/by-id/usb-...-event-kbd


@dataclass(frozen=True)
class FirmwareRule:
    model: str
    version: str


@dataclass(frozen=True)
class CheckoutConfig:
    policy: CheckoutPolicy = "pool"
    # Cameras of a listed model are handed out only with exactly this firmware.
    firmware_current: tuple[FirmwareRule, ...] = ()
    release_timeout_s: float = 120
    checkin_timeout_minutes: float = 30
    clock_sync: ClockSyncSource = "auto"
    locate: bool = True
    pin_lockout: PinLockoutConfig = PinLockoutConfig()
    recording_policy: RecordingPolicyConfig = RecordingPolicyConfig()
    badge: BadgeConfig = BadgeConfig()


@dataclass(frozen=True)
class StatusAuth:
    """Who may read the LAN status page, API and metrics. The secret lives in a mode-0600 file."""

    mode: HealthAuthMode
    secret_file: Path
    user: str = "staff"  # the user name for "basic"; ignored for "token"


@dataclass(frozen=True)
class StatusHttp:
    """The read-only status page, JSON API and /metrics for staff and Prometheus on the LAN."""

    auth: StatusAuth
    host: str = "0.0.0.0"
    port: int = 8480


@dataclass(frozen=True)
class StoreHealth:
    warn_free_percent: float = 20
    critical_free_percent: float = 10


@dataclass(frozen=True)
class BacklogHealth:
    warn_oldest_age_s: float = 4 * 3600
    critical_oldest_age_s: float = 24 * 3600
    warn_count: int | None = None  # None: no threshold on the number of waiting recordings
    critical_count: int | None = None


@dataclass(frozen=True)
class VaultHealth:
    # While footage waits: time since the last successful delivery (or since start-up).
    warn_after_s: float = 3600
    critical_after_s: float = 4 * 3600


@dataclass(frozen=True)
class ClockHealth:
    source: ClockSource = "auto"
    warn_offset_s: float = 1.0
    critical_offset_s: float = 10.0


@dataclass(frozen=True)
class CpuHealth:
    warn_temp_c: float = 75
    critical_temp_c: float = 90
    warn_load_per_cpu: float = 2.0  # 5-minute load average divided by the number of CPUs
    critical_load_per_cpu: float = 4.0


@dataclass(frozen=True)
class MemoryHealth:
    warn_available_percent: float = 15
    critical_available_percent: float = 5


@dataclass(frozen=True)
class SlotHealth:
    # A slot is stuck when it holds a working state past policies.step_timeout_s without
    # progress; charging is slow by nature and has its own limit.
    charging_timeout_s: float = 3 * 3600
    critical_factor: float = 2.0  # critical once stuck this many times the limit


@dataclass(frozen=True)
class AdapterHealth:
    window_s: float = 24 * 3600
    min_faults: int = 2  # fewer faults than this in the window never warn (one bad camera)
    warn_rate: float = 0.1  # slot faults per docked camera, per adapter
    critical_rate: float = 0.3


@dataclass(frozen=True)
class BatteryHealth:
    warn_health_percent: int = 80
    critical_health_percent: int = 60


@dataclass(frozen=True)
class HealthConfig:
    interval_s: float = 30
    integrity_interval_s: float = 3600  # audit chain and journal check read whole files
    # The local API (kiosk, `bodydock status`); None means <state_dir>/api.sock.
    socket: Path | None = None
    http: StatusHttp | None = None
    store: StoreHealth = StoreHealth()
    backlog: BacklogHealth = BacklogHealth()
    vault: VaultHealth = VaultHealth()
    clock: ClockHealth = ClockHealth()
    cpu: CpuHealth = CpuHealth()
    memory: MemoryHealth = MemoryHealth()
    slots: SlotHealth = SlotHealth()
    adapters: AdapterHealth = AdapterHealth()
    battery: BatteryHealth = BatteryHealth()


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
    health: HealthConfig = HealthConfig()
    adapters: AdaptersConfig = AdaptersConfig()
    roster: RosterConfig | None = None  # None: nobody can check out a camera
    checkout: CheckoutConfig = CheckoutConfig()

    @property
    def api_socket(self) -> Path:
        return self.health.socket or self.state_dir / "api.sock"
