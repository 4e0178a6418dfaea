"""The streaming probe on real media made by ffmpeg, and on broken media."""

from __future__ import annotations

from pathlib import Path

import pytest

from device_adapters.simulated.generate import corrupt_media, make_camera
from station.offload.probe import Mp4BoxWalker, StreamProbe


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cam")
    make_camera(root, "P-1", recordings=1, seconds=2)
    return next((root / "P-1").rglob("*.MP4"))


def probe(data: bytes, piece: int = 65536) -> tuple[bool, str | None, StreamProbe]:
    p = StreamProbe()
    for i in range(0, len(data), piece):
        p.feed(data[i:i + piece])
    r = p.finish()
    return r.media_ok, r.reason, p


def test_good_clip(clip: Path) -> None:
    p = StreamProbe()
    p.feed(clip.read_bytes())
    r = p.finish()
    assert r.media_ok and r.reason is None
    assert (r.video_codec, r.audio_codec, r.width, r.height) == ("h264", "aac", 320, 240)
    assert r.duration_s == pytest.approx(2.0, abs=0.1)


def test_truncated_clip_is_flagged(clip: Path) -> None:
    data = clip.read_bytes()
    ok, reason, _ = probe(data[: int(len(data) * 0.7)])
    assert not ok and reason and "truncated" in reason


def test_empty_file_is_flagged() -> None:
    ok, reason, _ = probe(b"")
    assert not ok and reason == "empty file"


def test_corrupt_clip_is_flagged(clip: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(clip.read_bytes())
    corrupt_media(bad)
    ok, reason, _ = probe(bad.read_bytes())
    assert not ok and reason


def test_not_media_is_flagged() -> None:
    ok, reason, _ = probe(b"\x00\x00\x00\x01garbage" * 1000)
    assert not ok and reason


def test_box_walker_handles_headers_split_across_chunks(clip: Path) -> None:
    data = clip.read_bytes()
    whole, bytewise = Mp4BoxWalker(), Mp4BoxWalker()
    whole.feed(data)
    for i in range(0, len(data), 7):
        bytewise.feed(data[i:i + 7])
    assert whole.boxes == bytewise.boxes and [b[0] for b in whole.boxes][:1] == ["ftyp"]
    assert whole.finish() is None and bytewise.finish() is None
