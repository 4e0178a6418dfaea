"""Helpers for the simulated-adapter tests (a uniquely named module: tests have no packages)."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import BinaryIO


def sha256_stream(stream: BinaryIO) -> tuple[str, int]:
    """Read a stream the way the station does (1 MiB chunks); (hex digest, bytes)."""
    digest = hashlib.sha256()
    total = 0
    while chunk := stream.read(1 << 20):
        digest.update(chunk)
        total += len(chunk)
    return digest.hexdigest(), total


def ffprobe(path: Path) -> tuple[int, list[str]]:
    """(exit code, codec names) of a media file."""
    proc = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "json", str(path)],
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        return proc.returncode, []
    return 0, [s["codec_name"] for s in json.loads(proc.stdout).get("streams", [])]


def camera_json(camera_dir: Path) -> dict[str, object]:
    data = json.loads((camera_dir / "camera.json").read_text())
    assert isinstance(data, dict)
    return data
