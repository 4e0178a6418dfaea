"""generate.py: real media, unique recordings, faults applied to the media, large files."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from _simulated_helpers import camera_json, ffprobe

from device_adapters.simulated.camera import CameraFolderError, read_state, scan_recordings, sha256_file
from device_adapters.simulated.generate import (
    CACHE_ENV,
    FfmpegError,
    SimulatedCameraSpec,
    _ffmpeg,
    corrupt_recording,
    default_cache_dir,
    expected_hashes,
    make_camera,
    make_large_recording,
)


def test_recordings_are_real_distinct_mp4s(template_camera: SimulatedCameraSpec) -> None:
    spec = template_camera
    assert spec.keys == tuple(f"DCIM/100BODY/REC_{n:04d}.MP4" for n in (1, 2, 3))
    for key in spec.keys:
        assert ffprobe(spec.path / key) == (0, ["h264", "aac"])
    assert len(set(spec.hashes.values())) == len(spec.keys)
    # The camera reports the true hashes of what is on disk.
    assert spec.hashes == expected_hashes(spec.path)
    assert camera_json(spec.path)["hashes"] == spec.hashes


def test_start_times_increase_in_the_recent_past(template_camera: SimulatedCameraSpec) -> None:
    files = scan_recordings(template_camera.path)
    starts = [f.mtime for f in files]
    assert starts == list(template_camera.started_at)
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    now = datetime.now(UTC)
    assert all(0 < (now - s).total_seconds() < 24 * 3600 for s in starts)


def test_camera_json_identity(tmp_path: Path, sim_cache: Path) -> None:
    from device_adapters.api import Wearer

    spec = make_camera(
        tmp_path,
        "CAM-42",
        recordings=1,
        seconds=1.0,
        battery_percent=33,
        wearer=Wearer("4711", "J. Doe"),
        cache_dir=sim_cache,
    )
    state = read_state(spec.path)
    assert (state.serial, state.model, state.firmware, state.battery_percent) == (
        "CAM-42",
        "SimCam BWC-1",
        "1.4.2",
        33,
    )
    assert state.wearer == Wearer("4711", "J. Doe")
    assert state.charge_rate_pps == 5.0 and state.docked_at is None


def test_corrupt_fault_breaks_media_but_hash_matches_bytes(tmp_path: Path, sim_cache: Path) -> None:
    bad = "DCIM/100BODY/REC_0002.MP4"
    spec = make_camera(tmp_path, "BAD1", seconds=1.0, faults={"corrupt": [bad]}, cache_dir=sim_cache)
    assert ffprobe(spec.path / bad)[0] != 0
    for key in spec.keys:
        if key != bad:
            assert ffprobe(spec.path / key) == (0, ["h264", "aac"])
    assert spec.hashes[bad] == sha256_file(spec.path / bad)
    assert spec.hashes == expected_hashes(spec.path)
    # Corruption keeps the start time.
    assert [f.mtime for f in scan_recordings(spec.path)] == list(spec.started_at)


def test_corrupt_recording_helper(camera: Path) -> None:
    key = "DCIM/100BODY/REC_0001.MP4"
    before = (camera / key).stat()
    digest = corrupt_recording(camera, key)
    assert ffprobe(camera / key)[0] != 0
    assert digest == sha256_file(camera / key)
    state = read_state(camera)
    assert state.hashes[key] == digest and state.faults.corrupt == (key,)
    assert (camera / key).stat().st_mtime_ns == before.st_mtime_ns
    assert (camera / key).stat().st_size < before.st_size


def test_unknown_fault_and_unknown_key_are_rejected(tmp_path: Path, sim_cache: Path) -> None:
    with pytest.raises(CameraFolderError, match="yank_afterbytes"):
        make_camera(tmp_path, "T1", faults={"yank_afterbytes": 5}, cache_dir=sim_cache)
    with pytest.raises(ValueError, match="REC_0009"):
        make_camera(tmp_path, "T2", recordings=1, faults={"wrong_hash": ["DCIM/100BODY/REC_0009.MP4"]},
                    cache_dir=sim_cache)
    assert not (tmp_path / "T2").exists()  # no half-made camera left behind
    with pytest.raises(ValueError, match="serial"):
        make_camera(tmp_path, "../escape", cache_dir=sim_cache)


def test_base_clip_is_cached(tmp_path: Path, sim_cache: Path, template_camera: SimulatedCameraSpec) -> None:
    clips = sorted(sim_cache.glob("base-*.mp4"))
    assert clips
    stamps = [c.stat().st_mtime_ns for c in clips]
    make_camera(tmp_path, "C1", recordings=2, seconds=1.0, cache_dir=sim_cache)
    assert [c.stat().st_mtime_ns for c in clips] == stamps


def test_cache_dir_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv(CACHE_ENV)
    assert default_cache_dir() == Path.home() / ".cache" / "bodydock" / "sim"


def test_ffmpeg_error_names_last_stderr_line(tmp_path: Path) -> None:
    with pytest.raises(FfmpegError, match="No such file or directory"):
        _ffmpeg(["-i", str(tmp_path / "missing.mp4"), str(tmp_path / "out.mp4")])


def test_make_large_recording(tmp_path: Path, sim_cache: Path) -> None:
    path = tmp_path / "DCIM" / "100BODY" / "BIG.MP4"
    size = 5 * 1024 * 1024 + 123
    digest = make_large_recording(path, size, cache_dir=sim_cache)
    assert path.stat().st_size == size
    assert digest == sha256_file(path)
    # The padding is a top-level "free" box, so the file is still valid media.
    assert ffprobe(path) == (0, ["h264", "aac"])
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]
    with pytest.raises(ValueError):
        make_large_recording(tmp_path / "small.MP4", 1000, cache_dir=sim_cache)


def test_expected_hashes_streams_every_recording(camera: Path) -> None:
    extra = camera / "DCIM" / "101BODY" / "REC_0100.mp4"
    extra.parent.mkdir()
    extra.write_bytes(os.urandom(1000))
    hashes = expected_hashes(camera)
    assert "DCIM/101BODY/REC_0100.mp4" in hashes
    assert len(hashes) == 4


def test_camera_without_recordings(tmp_path: Path, sim_cache: Path) -> None:
    spec = make_camera(tmp_path, "EMPTY", recordings=0, cache_dir=sim_cache)
    assert spec.keys == () and spec.hashes == {}
    assert scan_recordings(spec.path) == []


def test_record_adds_a_real_recording_while_undocked(camera: Path, sim_cache: Path, tmp_path: Path) -> None:
    from device_adapters.simulated.camera import dock, read_state, undock
    from device_adapters.simulated.generate import record

    before = expected_hashes(camera)
    key = record(camera, seconds=1.0, cache_dir=sim_cache)
    assert key == "DCIM/100BODY/REC_0004.MP4"
    after = expected_hashes(camera)
    assert set(after) == {*before, key} and after[key] not in before.values()
    assert read_state(camera).hashes[key] == after[key]  # the camera reports it like the others
    assert record(camera, seconds=1.0, cache_dir=sim_cache) == "DCIM/100BODY/REC_0005.MP4"
    dock(tmp_path / "dock", 1, camera)
    with pytest.raises(ValueError, match="docked"):
        record(camera, cache_dir=sim_cache)
    undock(tmp_path / "dock", 1)
