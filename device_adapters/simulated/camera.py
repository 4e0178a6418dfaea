"""On-disk model of a simulated camera, and the simulated dock.

A camera is a folder::

    camera.json             identity, battery, wearer, settings, faults, self-reported hashes, dock state
    DCIM/100BODY/*.MP4      recordings; a recording's key is its POSIX path in the folder

A dock is a folder of ``slot-<id>`` symlinks to camera folders. The station process (through the
adapter) and the test/demo harness (possibly another process) both change ``camera.json``, so
every read-modify-write holds an flock and every write is atomic (temp file, fsync, rename).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath

from device_adapters.api import AdapterError, RecordingSetting, Wearer

STATE_FILE = "camera.json"
LOCK_FILE = ".camera.json.lock"
DCIM_DIR = "DCIM"
RECORDING_DIR = "DCIM/100BODY"
RECORDING_SUFFIX = ".mp4"  # matched case-insensitively, cameras write .MP4
SLOT_PREFIX = "slot-"
_SLOT_RE = re.compile(r"slot-(\d+)")
_HASH_CHUNK = 1 << 20

# A new simulated camera's recording settings (vendor-neutral names, text values).
DEFAULT_SETTINGS: Mapping[str, str] = {
    RecordingSetting.PREBUFFER_S.value: "30",
    RecordingSetting.PREBUFFER_AUDIO.value: "false",
    RecordingSetting.WARNING_TONE.value: "true",
    RecordingSetting.WARNING_LED.value: "true",
}


class CameraFolderError(AdapterError):
    """camera.json is malformed, or the folder holds something unsafe (e.g. an escaping symlink)."""


def utc_now() -> datetime:
    return datetime.now(UTC)


# --- camera.json ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Faults:
    """Misbehaviour the simulated camera shows on request; the defaults mean a healthy camera."""

    corrupt: tuple[str, ...] = ()  # keys whose media is broken (done by generate.corrupt_recording)
    yank_after_bytes: int | None = None  # CameraGone after this many bytes read in this docking
    read_rate_mbps: float | None = None  # streaming rate limit, 10^6 bytes per second
    wrong_hash: tuple[str, ...] = ()  # keys for which the camera reports a wrong SHA-256
    wipe_fails: bool = False  # wipe raises and removes nothing
    wipe_partial: bool = False  # wipe removes the first file only, then raises
    hang_s: float = 0.0  # identify() sleeps this long

    @classmethod
    def from_json(cls, data: object) -> Faults:
        if data is None:
            return cls()
        obj = _as_object(data, "faults")
        unknown = set(obj) - set(cls.__dataclass_fields__)
        if unknown:
            # Strict, so a typo in a test's fault name fails loudly instead of silently not applying.
            raise CameraFolderError(f"unknown fault(s) in camera.json: {', '.join(sorted(unknown))}")
        yank = _opt_number(obj, "yank_after_bytes", "faults")
        rate = _opt_number(obj, "read_rate_mbps", "faults")
        if rate is not None and rate <= 0:
            raise CameraFolderError("faults.read_rate_mbps must be > 0")
        return cls(
            corrupt=_str_tuple(obj, "corrupt"),
            yank_after_bytes=None if yank is None else int(yank),
            read_rate_mbps=rate,
            wrong_hash=_str_tuple(obj, "wrong_hash"),
            wipe_fails=_bool(obj, "wipe_fails", "faults"),
            wipe_partial=_bool(obj, "wipe_partial", "faults"),
            hang_s=_number(obj, "hang_s", 0.0, "faults"),
        )

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {}
        if self.corrupt:
            out["corrupt"] = list(self.corrupt)
        if self.yank_after_bytes is not None:
            out["yank_after_bytes"] = self.yank_after_bytes
        if self.read_rate_mbps is not None:
            out["read_rate_mbps"] = self.read_rate_mbps
        if self.wrong_hash:
            out["wrong_hash"] = list(self.wrong_hash)
        if self.wipe_fails:
            out["wipe_fails"] = True
        if self.wipe_partial:
            out["wipe_partial"] = True
        if self.hang_s:
            out["hang_s"] = self.hang_s
        return out


@dataclass(frozen=True)
class CameraState:
    """The contents of camera.json."""

    serial: str
    model: str
    firmware: str
    vendor: str = ""
    battery_percent: int = 100
    battery_health_percent: int = 100
    charge_rate_pps: float = 5.0  # percent per second gained while docked
    clock_offset_s: float = 0.0
    wearer: Wearer | None = None
    settings: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_SETTINGS))
    locating: bool = False  # flashing/beeping so the officer takes this camera
    faults: Faults = field(default_factory=Faults)
    hashes: Mapping[str, str] = field(default_factory=dict)
    docked_at: datetime | None = None
    # While docked: the instant battery_percent was last brought up to date.
    charged_at: datetime | None = None
    clock_set_at: datetime | None = None
    # Record of the last yank; the yank fault itself is consumed when it fires.
    yanked: bool = False
    yanked_docked_at: datetime | None = None
    # Keys this version does not know, written back unchanged.
    extra: Mapping[str, object] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: object) -> CameraState:
        obj = _as_object(data, "camera.json")
        known = {f for f in cls.__dataclass_fields__ if f != "extra"}
        wearer_obj = obj.get("wearer")
        wearer = None
        if wearer_obj is not None:
            w = _as_object(wearer_obj, "wearer")
            wearer = Wearer(officer_id=_str(w, "officer_id", "wearer"), name=_str(w, "name", "wearer"))
        hashes = _as_object(obj.get("hashes") or {}, "hashes")
        if not all(isinstance(v, str) for v in hashes.values()):
            raise CameraFolderError("camera.json hashes must map keys to hex strings")
        settings = _as_object(obj["settings"], "settings") if "settings" in obj else dict(DEFAULT_SETTINGS)
        if not all(isinstance(v, str) for v in settings.values()):
            raise CameraFolderError("camera.json settings must map names to text values")
        return cls(
            serial=_str(obj, "serial"),
            model=_str(obj, "model"),
            firmware=_str(obj, "firmware"),
            vendor=str(obj.get("vendor") or ""),
            battery_percent=int(_number(obj, "battery_percent", 100)),
            battery_health_percent=int(_number(obj, "battery_health_percent", 100)),
            charge_rate_pps=_number(obj, "charge_rate_pps", 5.0),
            clock_offset_s=_number(obj, "clock_offset_s", 0.0),
            wearer=wearer,
            settings={k: str(v) for k, v in settings.items()},
            locating=_bool(obj, "locating"),
            faults=Faults.from_json(obj.get("faults")),
            hashes={k: str(v) for k, v in hashes.items()},
            docked_at=_opt_time(obj, "docked_at"),
            charged_at=_opt_time(obj, "charged_at"),
            clock_set_at=_opt_time(obj, "clock_set_at"),
            yanked=_bool(obj, "yanked"),
            yanked_docked_at=_opt_time(obj, "yanked_docked_at"),
            extra={k: v for k, v in obj.items() if k not in known},
        )

    def to_json(self) -> dict[str, object]:
        return {
            "serial": self.serial,
            "model": self.model,
            "firmware": self.firmware,
            "vendor": self.vendor,
            "battery_percent": self.battery_percent,
            "battery_health_percent": self.battery_health_percent,
            "charge_rate_pps": self.charge_rate_pps,
            "clock_offset_s": self.clock_offset_s,
            "wearer": None
            if self.wearer is None
            else {"officer_id": self.wearer.officer_id, "name": self.wearer.name},
            "settings": dict(sorted(self.settings.items())),
            "locating": self.locating,
            "faults": self.faults.to_json(),
            "hashes": dict(sorted(self.hashes.items())),
            "docked_at": _iso(self.docked_at),
            "charged_at": _iso(self.charged_at),
            "clock_set_at": _iso(self.clock_set_at),
            "yanked": self.yanked,
            "yanked_docked_at": _iso(self.yanked_docked_at),
            **self.extra,
        }


def read_state(camera_dir: Path) -> CameraState:
    """Read camera.json without locking (writes are atomic renames). FileNotFoundError if absent."""
    raw = (camera_dir / STATE_FILE).read_bytes()
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise CameraFolderError(f"{camera_dir / STATE_FILE}: not valid JSON: {exc}") from exc
    return CameraState.from_json(data)


def write_state(camera_dir: Path, state: CameraState) -> None:
    """Replace camera.json (used when creating a camera)."""
    with _locked(camera_dir):
        _write_atomic(camera_dir, state)


def update_state(camera_dir: Path, change: Callable[[CameraState], CameraState]) -> CameraState:
    """Read-modify-write camera.json under the camera's lock; returns the new state."""
    with _locked(camera_dir):
        old = read_state(camera_dir)
        new = change(old)
        if new != old:
            _write_atomic(camera_dir, new)
        return new


def set_faults(camera_dir: Path, faults: Faults | Mapping[str, object]) -> None:
    """Replace the camera's faults (e.g. re-arm a yank after re-docking)."""
    parsed = faults if isinstance(faults, Faults) else Faults.from_json(dict(faults))
    update_state(camera_dir, lambda s: replace(s, faults=parsed))


def record_hash(camera_dir: Path, key: str, sha256_hex: str) -> None:
    """Set the hash the camera reports for ``key`` (after adding or rewriting a recording)."""
    update_state(camera_dir, lambda s: replace(s, hashes={**s.hashes, key: sha256_hex}))


@contextlib.contextmanager
def _locked(camera_dir: Path) -> Iterator[None]:
    # A separate lock file: camera.json itself is replaced by rename, so a lock on it would be lost.
    fd = os.open(camera_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the flock


def _write_atomic(camera_dir: Path, state: CameraState) -> None:
    data = (json.dumps(state.to_json(), indent=2) + "\n").encode()
    target = camera_dir / STATE_FILE
    tmp = camera_dir / f".{STATE_FILE}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(camera_dir)


def fsync_dir(path: Path) -> None:
    """Make renames/unlinks in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- battery ----------------------------------------------------------------------------------


def settle_battery(state: CameraState, now: datetime) -> CameraState:
    """Bring battery_percent up to ``now``: docked cameras gain charge_rate_pps percent per second."""
    if state.docked_at is None or state.charge_rate_pps <= 0:
        return state
    if state.battery_percent >= 100:
        return replace(state, battery_percent=100, charged_at=now)
    since = state.charged_at or state.docked_at
    gained = int(max(0.0, (now - since).total_seconds()) * state.charge_rate_pps)
    if gained <= 0:
        return state
    percent = min(100, state.battery_percent + gained)
    # Advance the mark only by the time the whole percents took, so frequent reads keep fractions.
    charged_at = now if percent == 100 else since + timedelta(seconds=gained / state.charge_rate_pps)
    return replace(state, battery_percent=percent, charged_at=charged_at)


def mark_undocked(state: CameraState, now: datetime) -> CameraState:
    return replace(settle_battery(state, now), docked_at=None, charged_at=None)


# --- dock -------------------------------------------------------------------------------------


def slot_entry(dock_dir: Path, slot_id: int) -> Path:
    return dock_dir / f"{SLOT_PREFIX}{slot_id}"


def docked(dock_dir: Path) -> dict[int, Path]:
    """Occupied slots: slot id -> camera folder the slot's symlink points at."""
    slots: dict[int, Path] = {}
    try:
        entries = list(os.scandir(dock_dir))
    except FileNotFoundError:
        return slots
    for entry in entries:
        match = _SLOT_RE.fullmatch(entry.name)
        if match is None or not entry.is_symlink():
            continue
        try:
            target = Path(os.readlink(entry.path))
        except FileNotFoundError:  # undocked while we looked
            continue
        slots[int(match[1])] = target if target.is_absolute() else dock_dir / target
    return dict(sorted(slots.items()))


def dock(dock_dir: Path, slot_id: int, camera_dir: Path, *, now: datetime | None = None) -> None:
    """Put a camera into a slot: record docked_at, then atomically create ``slot-<id>`` -> camera."""
    camera_dir = camera_dir.resolve()
    if not (camera_dir / STATE_FILE).is_file():
        raise FileNotFoundError(f"not a simulated camera (no {STATE_FILE}): {camera_dir}")
    dock_dir.mkdir(parents=True, exist_ok=True)
    for other_slot, target in docked(dock_dir).items():
        same = _same_dir(target, camera_dir)
        if other_slot == slot_id and not same:
            raise FileExistsError(f"slot {slot_id} is occupied by {target}")
        if other_slot != slot_id and same:
            raise FileExistsError(f"{camera_dir} is already docked in slot {other_slot}")
    at = now or utc_now()
    # State first: once the station sees the symlink, the camera must already be docked/charging.
    update_state(camera_dir, lambda s: replace(settle_battery(s, at), docked_at=at, charged_at=at))
    entry = slot_entry(dock_dir, slot_id)
    tmp = dock_dir / f".{entry.name}.{uuid.uuid4().hex}.tmp"
    os.symlink(camera_dir, tmp)
    try:
        os.replace(tmp, entry)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(dock_dir)


def undock(dock_dir: Path, slot_id: int, *, now: datetime | None = None) -> None:
    """Take the camera out of a slot. An empty slot is not an error (a yank may have emptied it)."""
    entry = slot_entry(dock_dir, slot_id)
    try:
        target = Path(os.readlink(entry))
        entry.unlink()
    except FileNotFoundError:
        return
    fsync_dir(dock_dir)
    camera_dir = target if target.is_absolute() else dock_dir / target
    if (camera_dir / STATE_FILE).is_file():
        update_state(camera_dir, lambda s: mark_undocked(s, now or utc_now()))


def _same_dir(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


# --- recordings -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordingFile:
    key: str  # POSIX path relative to the camera folder
    path: Path
    size: int
    mtime: datetime  # UTC; the simulated camera stamps a recording's start time here


def scan_recordings(camera_dir: Path) -> list[RecordingFile]:
    """All *.MP4 regular files under DCIM, sorted by key.

    Symlinks are never listed; one pointing outside the camera folder makes the scan fail, as a
    camera exposing such a link is tampered with and must not leak other files to the station.
    """
    root = camera_dir.resolve()
    found: list[RecordingFile] = []
    dcim = root / DCIM_DIR
    if dcim.is_symlink():
        _check_link(dcim, root)
        return found
    if dcim.is_dir():
        _scan_dir(dcim, root, found)
    found.sort(key=lambda r: r.key)
    return found


def _scan_dir(directory: Path, root: Path, found: list[RecordingFile]) -> None:
    with os.scandir(directory) as it:
        entries = list(it)
    for entry in entries:
        path = Path(entry.path)
        if entry.is_symlink():
            # Links inside the folder would list the same bytes twice; links outside are refused.
            _check_link(path, root)
        elif entry.is_dir(follow_symlinks=False):
            _scan_dir(path, root, found)
        elif entry.is_file(follow_symlinks=False) and entry.name.lower().endswith(RECORDING_SUFFIX):
            st = entry.stat(follow_symlinks=False)
            found.append(
                RecordingFile(
                    key=path.relative_to(root).as_posix(),
                    path=path,
                    size=st.st_size,
                    mtime=datetime.fromtimestamp(st.st_mtime, UTC),
                )
            )


def _check_link(path: Path, root: Path) -> None:
    if not path.resolve().is_relative_to(root):
        raise CameraFolderError(f"symlink points outside the camera folder: {path.relative_to(root)}")


def recording_path(camera_dir: Path, key: str) -> Path:
    """The file for a recording key, refusing keys that could reach outside DCIM."""
    pure = PurePosixPath(key)
    if (
        pure.is_absolute()
        or not pure.parts
        or pure.parts[0] != DCIM_DIR
        or any(part in ("", ".", "..") for part in pure.parts)
        or pure.suffix.lower() != RECORDING_SUFFIX
    ):
        raise CameraFolderError(f"not a recording key of this camera: {key!r}")
    root = camera_dir.resolve()
    path = root.joinpath(*pure.parts)
    # The parent must not reach elsewhere through a symlinked directory; callers open the file
    # itself with O_NOFOLLOW.
    if not path.parent.resolve().is_relative_to(root / DCIM_DIR):
        raise CameraFolderError(f"recording key leaves the camera folder: {key!r}")
    return path


def sha256_file(path: Path) -> str:
    """Streaming SHA-256 (bounded memory, fine for multi-GB recordings)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# --- JSON helpers -----------------------------------------------------------------------------


def _as_object(data: object, what: str) -> dict[str, object]:
    if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
        raise CameraFolderError(f"{what} must be a JSON object")
    return data


def _str(obj: Mapping[str, object], key: str, what: str = "camera.json") -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise CameraFolderError(f"{what}.{key} must be a string")
    return value


def _opt_number(obj: Mapping[str, object], key: str, what: str = "camera.json") -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CameraFolderError(f"{what}.{key} must be a number")
    return float(value)


def _number(obj: Mapping[str, object], key: str, default: float, what: str = "camera.json") -> float:
    value = _opt_number(obj, key, what)
    return default if value is None else value


def _bool(obj: Mapping[str, object], key: str, what: str = "camera.json") -> bool:
    value = obj.get(key, False)
    if not isinstance(value, bool):
        raise CameraFolderError(f"{what}.{key} must be true or false")
    return value


def _str_tuple(obj: Mapping[str, object], key: str) -> tuple[str, ...]:
    value = obj.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CameraFolderError(f"faults.{key} must be a list of recording keys")
    return tuple(value)


def _opt_time(obj: Mapping[str, object], key: str) -> datetime | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise CameraFolderError(f"camera.json {key} must be an ISO 8601 time")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise CameraFolderError(f"camera.json {key}: {exc}") from exc
    # Hand-written times without an offset are taken as UTC, like everything the simulator writes.
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()
