"""Stable recording identifiers.

Derived from what the camera says about a recording (serial, its own key, size, start time),
never from the file name alone, so a hostile name cannot steer a path, and the same recording
seen again after a yank or a crash gets the same id: resumed, never duplicated.
"""

from __future__ import annotations

import hashlib
import re

from device_adapters.api import RecordingInfo
from station.timeutil import iso

_UNSAFE = re.compile(r"[^A-Za-z0-9]+")


def safe_token(text: str, limit: int = 32) -> str:
    return _UNSAFE.sub("-", text).strip("-")[:limit] or "x"


def recording_id(camera_serial: str, rec: RecordingInfo) -> str:
    started = iso(rec.started_at) if rec.started_at else ""
    digest = hashlib.sha256(
        "\0".join((camera_serial, rec.key, str(rec.size), started)).encode("utf-8", "surrogateescape")
    ).hexdigest()
    stamp = rec.started_at.strftime("%Y%m%dT%H%M%S") if rec.started_at else "undated"
    return f"{safe_token(camera_serial)}-{stamp}-{digest[:12]}"
