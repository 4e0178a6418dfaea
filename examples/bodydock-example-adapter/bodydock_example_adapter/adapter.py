"""The ACME BC-1 adapter: everything the station asks a camera, for a folder-shaped camera."""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import BinaryIO, cast

from bodydock_example_adapter import DESCRIPTOR
from device_adapters.api import (
    AdapterError,
    AdapterFactory,
    Battery,
    CameraAdapter,
    CameraGone,
    CameraInfo,
    NotSupported,
    RecordingInfo,
    Wearer,
    WipeOutcome,
)


class AcmeAdapter(CameraAdapter):
    descriptor = DESCRIPTOR

    def __init__(self, root: Path) -> None:
        self.root = root

    # Every call starts by checking the camera is still there: a vanished camera is CameraGone,
    # never a generic error, so the station treats it as "taken out", not as a fault.
    def _info(self) -> dict[str, str]:
        try:
            text = (self.root / "ACME" / "INFO.TXT").read_text("ascii")
        except FileNotFoundError as exc:
            raise CameraGone(f"ACME camera at {self.root} is gone") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise AdapterError(f"cannot read ACME/INFO.TXT: {exc}") from exc
        return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)

    def identify(self) -> CameraInfo:
        info = self._info()
        wearer = self.root / "ACME" / "WEARER.TXT"
        officer = wearer.read_text().split("\n", 1)[0] if wearer.exists() else ""
        return CameraInfo(serial=info["serial"], model=info.get("model", "BC-1"),
                          firmware=info.get("firmware", ""), vendor="ACME", wearer_id=officer or None)

    def _sums(self) -> dict[str, str]:
        path = self.root / "ACME" / "SHA256SUMS"
        if not path.exists():
            return {}
        return {name: digest for digest, _, name in (line.partition("  ") for line in path.read_text().splitlines())}

    def list_recordings(self) -> Sequence[RecordingInfo]:
        self._info()
        sums = self._sums()
        out = []
        dcim = self.root / "DCIM"
        for entry in sorted(os.scandir(dcim), key=lambda e: e.name) if dcim.is_dir() else []:
            # Only plain files: never follow a link the camera (or someone) put there.
            if not entry.is_file(follow_symlinks=False) or not entry.name.upper().endswith(".MP4"):
                continue
            st = entry.stat(follow_symlinks=False)
            key = f"DCIM/{entry.name}"
            out.append(RecordingInfo(key=key, size=st.st_size, started_at=datetime.fromtimestamp(st.st_mtime, UTC),
                                     device_sha256=sums.get(key), extension="mp4"))
        return out

    def _path(self, key: str) -> Path:
        # A key comes from a listing of an untrusted card, or from a caller: it may name only a
        # file directly in DCIM. No "..", no absolute path, no NUL or control characters.
        pure = PurePosixPath(key)
        if (len(pure.parts) != 2 or pure.parts[0] != "DCIM" or pure.name in ("", ".", "..")
                or not key.isprintable() or "\\" in key):
            raise AdapterError(f"not a recording of this camera: {key!r}")
        return self.root / "DCIM" / pure.name

    def open_recording(self, recording: RecordingInfo) -> BinaryIO:
        self._info()
        try:
            fd = os.open(self._path(recording.key), os.O_RDONLY | os.O_NOFOLLOW)
        except OSError as exc:
            raise AdapterError(f"cannot open {recording.key}: {exc.strerror}") from exc
        if not stat.S_ISREG(os.fstat(fd).st_mode) or os.fstat(fd).st_size != recording.size:
            os.close(fd)
            raise AdapterError(f"{recording.key} is not the listed file")
        return cast(BinaryIO, _Stream(self, os.fdopen(fd, "rb")))

    def wipe(self, recordings: Sequence[RecordingInfo]) -> WipeOutcome:
        self._info()
        listed = {r.key: r for r in self.list_recordings()}
        for rec in recordings:  # check everything first: a refused wipe removes nothing
            now = listed.get(rec.key)
            if now is not None and now.size != rec.size:
                raise AdapterError(f"refusing to wipe {rec.key}: it changed since it was listed")
        removed = []
        for rec in recordings:
            self._path(rec.key).unlink(missing_ok=True)
            removed.append(rec.key)
        return WipeOutcome(removed=tuple(removed), method="unlink")

    def set_clock(self, now: datetime) -> None:
        raise NotSupported("the ACME BC-1 keeps its own time (GPS)")

    def set_wearer(self, wearer: Wearer | None) -> None:
        self._info()
        text = "" if wearer is None else f"{wearer.officer_id}\n{wearer.name}\n"
        (self.root / "ACME" / "WEARER.TXT").write_text(text)

    def battery(self) -> Battery:
        info = self._info()
        return Battery(percent=int(info.get("battery", "0")), charging=info.get("charging") == "1")


class _Stream:
    """Checks the camera is present on every read (a plain file would keep reading after a yank)."""

    def __init__(self, adapter: AcmeAdapter, f: BinaryIO) -> None:
        self._adapter, self._f = adapter, f

    def read(self, n: int = -1) -> bytes:
        self._adapter._info()
        return self._f.read(n)

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> _Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AcmeFactory(AdapterFactory):
    def __init__(self) -> None:  # options from the station config would arrive as keywords here
        pass

    def __call__(self, locator: str) -> CameraAdapter:
        return AcmeAdapter(Path(locator))
