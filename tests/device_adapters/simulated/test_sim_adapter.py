"""SimulatedAdapter: the adapter API over a camera folder, including every fault."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from _simulated_helpers import camera_json, sha256_stream

from device_adapters.api import AdapterError, Battery, CameraGone, Capability, RecordingInfo, Wearer
from device_adapters.simulated import DESCRIPTOR
from device_adapters.simulated.adapter import SimulatedAdapter, SimulatedAdapterFactory
from device_adapters.simulated.camera import (
    dock,
    docked,
    read_state,
    record_hash,
    set_faults,
    undock,
    update_state,
)
from device_adapters.simulated.generate import SimulatedCameraSpec, expected_hashes, make_large_recording

REC1 = "DCIM/100BODY/REC_0001.MP4"
REC2 = "DCIM/100BODY/REC_0002.MP4"
REC3 = "DCIM/100BODY/REC_0003.MP4"


def docked_adapter(camera: Path, dock_dir: Path, slot: int = 1) -> SimulatedAdapter:
    dock(dock_dir, slot, camera)
    adapter = SimulatedAdapterFactory(dock_dir)(str(camera))
    assert adapter.dock_entry == dock_dir / f"slot-{slot}"
    return adapter


# --- descriptor and factory ---------------------------------------------------------------------


def test_manifest() -> None:
    assert DESCRIPTOR.name == "simulated" and DESCRIPTOR.api_version == 1
    assert DESCRIPTOR.capabilities == {
        Capability.HASH,
        Capability.WIPE,
        Capability.SET_CLOCK,
        Capability.SET_WEARER,
        Capability.BATTERY,
        Capability.SETTINGS,
        Capability.PUSH_SETTINGS,
        Capability.LOCATE,
    }
    assert DESCRIPTOR.factory == "device_adapters.simulated.adapter:SimulatedAdapterFactory"
    assert SimulatedAdapter.descriptor is DESCRIPTOR


def test_manifest_import_is_lazy() -> None:
    code = (
        "import sys, device_adapters.simulated as s; "
        "assert s.DESCRIPTOR.name == 'simulated'; "
        "bad = [m for m in ('device_adapters.simulated.adapter', 'device_adapters.simulated.generate', "
        "'device_adapters.simulated.camera') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_factory_accepts_folder_or_slot_link(camera: Path, dock_dir: Path) -> None:
    dock(dock_dir, 3, camera)
    by_folder = SimulatedAdapterFactory(dock_dir)(str(camera))
    by_link = SimulatedAdapterFactory(dock_dir)(str(dock_dir / "slot-3"))
    assert by_folder.dock_entry == by_link.dock_entry == dock_dir / "slot-3"
    assert by_link.camera_dir == camera.resolve()
    assert SimulatedAdapterFactory()(str(camera)).dock_entry is None


# --- identify, list, stream -------------------------------------------------------------------


def test_identify(camera: Path) -> None:
    info = SimulatedAdapter(camera).identify()
    assert (info.serial, info.model, info.firmware, info.vendor) == (
        "SIM0001",
        "SimCam BWC-1",
        "1.4.2",
        "Simulated",
    )
    assert info.wearer_id is None and info.clock_offset_s == 0.0


def test_list_and_stream_round_trip(camera: Path, template_camera: SimulatedCameraSpec) -> None:
    adapter = SimulatedAdapter(camera)
    recs = adapter.list_recordings()
    truth = expected_hashes(camera)
    assert [r.key for r in recs] == sorted(truth) == list(template_camera.keys)
    for rec in recs:
        assert rec.extension == "mp4"
        assert rec.size == (camera / rec.key).stat().st_size
        assert rec.started_at is not None and rec.started_at.tzinfo is not None
        assert rec.device_sha256 == truth[rec.key]
        with adapter.open_recording(rec) as stream:
            assert sha256_stream(stream) == (truth[rec.key], rec.size)
    assert [r.started_at for r in recs] == list(template_camera.started_at)


def test_small_reads_and_readinto(camera: Path) -> None:
    adapter = SimulatedAdapter(camera)
    rec = adapter.list_recordings()[0]
    data = (camera / rec.key).read_bytes()
    with adapter.open_recording(rec) as stream:
        head = stream.read(10)
        buf = bytearray(100)
        n = stream.readinto(buf)  # type: ignore[attr-defined]  # BinaryIO lacks it; RawIOBase has it
        rest = stream.read()
    assert head + bytes(buf[:n]) + rest == data


def test_recording_changed_size_since_listing(camera: Path) -> None:
    adapter = SimulatedAdapter(camera)
    rec = adapter.list_recordings()[0]
    with open(camera / rec.key, "ab") as f:
        f.write(b"more")
    with pytest.raises(AdapterError, match="changed size"):
        adapter.open_recording(rec)


def test_recording_shrinking_while_read(camera: Path) -> None:
    adapter = SimulatedAdapter(camera)
    rec = adapter.list_recordings()[0]
    with adapter.open_recording(rec) as stream:
        os.truncate(camera / rec.key, 100)
        with pytest.raises(AdapterError, match="shrank"):
            sha256_stream(stream)


def test_bad_keys_are_refused(camera: Path) -> None:
    adapter = SimulatedAdapter(camera)
    for key in ("camera.json", "DCIM/../camera.json", "/etc/passwd", "DCIM/100BODY/x.txt"):
        with pytest.raises(AdapterError):
            adapter.open_recording(RecordingInfo(key=key, size=1))
    with pytest.raises(AdapterError, match="no longer on the camera"):
        adapter.open_recording(RecordingInfo(key="DCIM/100BODY/GONE.MP4", size=1))


def test_symlink_leaving_the_camera_is_refused(camera: Path, tmp_path: Path) -> None:
    outside = tmp_path / "secret.MP4"
    outside.write_bytes(b"not yours")
    (camera / "DCIM/100BODY/LINK.MP4").symlink_to(outside)
    with pytest.raises(AdapterError, match="outside the camera"):
        SimulatedAdapter(camera).list_recordings()
    with pytest.raises(AdapterError):
        SimulatedAdapter(camera).open_recording(RecordingInfo(key="DCIM/100BODY/LINK.MP4", size=9))


def test_symlink_inside_the_camera_is_not_listed(camera: Path) -> None:
    (camera / "DCIM/100BODY/ALIAS.MP4").symlink_to(camera / REC1)
    assert [r.key for r in SimulatedAdapter(camera).list_recordings()] == [REC1, REC2, REC3]


def test_nested_folders_and_lowercase_extension(camera: Path) -> None:
    sub = camera / "DCIM/101BODY"
    sub.mkdir()
    shutil.copy2(camera / REC1, sub / "rec_0001.mp4")
    (sub / "notes.txt").write_text("ignored")
    keys = [r.key for r in SimulatedAdapter(camera).list_recordings()]
    assert keys == [REC1, REC2, REC3, "DCIM/101BODY/rec_0001.mp4"]
    assert keys == sorted(keys)


def test_wrong_hash(camera: Path) -> None:
    set_faults(camera, {"wrong_hash": [REC2]})
    truth = expected_hashes(camera)
    reported = {r.key: r.device_sha256 for r in SimulatedAdapter(camera).list_recordings()}
    assert reported[REC1] == truth[REC1] and reported[REC3] == truth[REC3]
    wrong = reported[REC2]
    assert wrong is not None and wrong != truth[REC2] and len(wrong) == 64
    int(wrong, 16)


def test_corrupt_recording_is_offloaded_byte_exact(camera: Path) -> None:
    from device_adapters.simulated.generate import corrupt_recording

    digest = corrupt_recording(camera, REC3)
    adapter = SimulatedAdapter(camera)
    rec = next(r for r in adapter.list_recordings() if r.key == REC3)
    assert rec.device_sha256 == digest
    with adapter.open_recording(rec) as stream:
        assert sha256_stream(stream)[0] == digest


# --- throttling, hang -------------------------------------------------------------------------


def test_throttling_limits_the_rate(camera: Path, sim_cache: Path) -> None:
    key = "DCIM/100BODY/REC_0100.MP4"
    record_hash(camera, key, make_large_recording(camera / key, 2_000_000, cache_dir=sim_cache))
    set_faults(camera, {"read_rate_mbps": 4.0})
    adapter = SimulatedAdapter(camera)
    rec = next(r for r in adapter.list_recordings() if r.key == key)
    started = time.monotonic()
    with adapter.open_recording(rec) as stream:
        digest, total = sha256_stream(stream)
    elapsed = time.monotonic() - started
    assert (digest, total) == (rec.device_sha256, 2_000_000)
    # 2 MB at 4 MB/s is 0.5 s, less the small burst allowance. Only the floor is the limiter's
    # promise; how much slower a busy machine makes it is not this test's business.
    assert elapsed >= 0.35


def test_hang(camera: Path) -> None:
    set_faults(camera, {"hang_s": 0.3})
    started = time.monotonic()
    SimulatedAdapter(camera).identify()
    assert time.monotonic() - started >= 0.3


# --- presence and yank ------------------------------------------------------------------------


def test_yank_after_bytes_then_redock(camera: Path, dock_dir: Path) -> None:
    recs = SimulatedAdapter(camera).list_recordings()
    # Spans more than one recording: the budget is shared by all streams of the docking.
    limit = recs[0].size + recs[1].size // 2
    set_faults(camera, {"yank_after_bytes": limit})
    adapter = docked_adapter(camera, dock_dir)
    read = 0
    with pytest.raises(CameraGone):
        for rec in recs:
            with adapter.open_recording(rec) as stream:
                while chunk := stream.read(1 << 20):
                    read += len(chunk)
    assert read == limit
    # The camera left its slot and knows it was yanked; the fault is consumed.
    assert docked(dock_dir) == {}
    state = read_state(camera)
    assert state.docked_at is None and state.yanked and state.yanked_docked_at is not None
    assert state.faults.yank_after_bytes is None
    with pytest.raises(CameraGone):
        adapter.identify()
    # Re-docked, it reads fine.
    again = docked_adapter(camera, dock_dir, slot=2)
    truth = expected_hashes(camera)
    for rec in again.list_recordings():
        with again.open_recording(rec) as stream:
            assert sha256_stream(stream)[0] == truth[rec.key]


def test_yank_can_be_rearmed(camera: Path, dock_dir: Path) -> None:
    set_faults(camera, {"yank_after_bytes": 10})
    adapter = docked_adapter(camera, dock_dir)
    rec = adapter.list_recordings()[0]
    with pytest.raises(CameraGone), adapter.open_recording(rec) as stream:
        assert stream.read(100) == (camera / rec.key).read_bytes()[:10]
        stream.read(100)
    set_faults(camera, {"yank_after_bytes": 20})
    adapter = docked_adapter(camera, dock_dir)
    with pytest.raises(CameraGone), adapter.open_recording(rec) as stream:
        sha256_stream(stream)
    assert docked(dock_dir) == {}


def test_yank_without_dock_entry(camera: Path) -> None:
    set_faults(camera, {"yank_after_bytes": 1000})
    adapter = SimulatedAdapter(camera)
    rec = adapter.list_recordings()[0]
    with pytest.raises(CameraGone), adapter.open_recording(rec) as stream:
        sha256_stream(stream)
    assert read_state(camera).yanked


def test_undock_while_streaming(camera: Path, dock_dir: Path) -> None:
    adapter = docked_adapter(camera, dock_dir)
    rec = adapter.list_recordings()[0]
    with adapter.open_recording(rec) as stream:
        stream.read(1000)
        undock(dock_dir, 1)
        with pytest.raises(CameraGone):
            stream.read(1000)
    with pytest.raises(CameraGone):
        adapter.list_recordings()


def test_camera_folder_vanishing_is_camera_gone(camera: Path) -> None:
    adapter = SimulatedAdapter(camera)
    shutil.rmtree(camera)
    for call in (adapter.identify, adapter.list_recordings, adapter.battery):
        with pytest.raises(CameraGone):
            call()


# --- wipe -------------------------------------------------------------------------------------


def test_wipe_removes_exactly_the_given_recordings(camera: Path) -> None:
    adapter = SimulatedAdapter(camera)
    recs = adapter.list_recordings()
    outcome = adapter.wipe(recs[:2])
    assert outcome.removed == (REC1, REC2)
    assert outcome.method == "unlink+dirsync"
    assert outcome.free_bytes_after is not None and outcome.free_bytes_after > 0
    assert [r.key for r in adapter.list_recordings()] == [REC3]
    assert set(read_state(camera).hashes) == {REC3}


def test_wipe_refuses_a_recording_that_changed(camera: Path) -> None:
    adapter = SimulatedAdapter(camera)
    recs = adapter.list_recordings()
    with pytest.raises(AdapterError, match="size changed"):
        adapter.wipe([recs[0], replace(recs[1], size=recs[1].size + 1)])
    assert len(adapter.list_recordings()) == 3  # validated before anything was removed


def test_wipe_fails(camera: Path) -> None:
    set_faults(camera, {"wipe_fails": True})
    adapter = SimulatedAdapter(camera)
    with pytest.raises(AdapterError):
        adapter.wipe(adapter.list_recordings())
    assert len(adapter.list_recordings()) == 3
    assert len(read_state(camera).hashes) == 3


def test_wipe_partial_then_retry(camera: Path) -> None:
    set_faults(camera, {"wipe_partial": True})
    adapter = SimulatedAdapter(camera)
    recs = adapter.list_recordings()
    with pytest.raises(AdapterError, match="partial"):
        adapter.wipe(recs)
    assert [r.key for r in adapter.list_recordings()] == [REC2, REC3]
    set_faults(camera, {})
    outcome = adapter.wipe(recs)  # the station retries with the same list
    assert set(outcome.removed) == {REC1, REC2, REC3}
    assert outcome.notes == (f"already absent: {REC1}",)
    assert adapter.list_recordings() == ()


# --- battery, clock, wearer -------------------------------------------------------------------


def test_battery_charges_while_docked(camera: Path, dock_dir: Path) -> None:
    update_state(camera, lambda s: replace(s, battery_percent=10, charge_rate_pps=100.0))
    assert SimulatedAdapter(camera).battery() == Battery(percent=10, charging=False, health_percent=95)
    adapter = docked_adapter(camera, dock_dir)
    assert adapter.battery().charging
    time.sleep(0.3)
    percent = adapter.battery().percent
    assert 30 <= percent <= 100
    assert camera_json(camera)["battery_percent"] == percent  # persisted
    time.sleep(1.0)
    assert adapter.battery().percent == 100
    undock(dock_dir, 1)
    assert SimulatedAdapter(camera).battery() == Battery(percent=100, charging=False, health_percent=95)


def test_battery_keeps_fractions_across_frequent_reads(camera: Path, dock_dir: Path) -> None:
    update_state(camera, lambda s: replace(s, battery_percent=10, charge_rate_pps=10.0))
    adapter = docked_adapter(camera, dock_dir)
    started = time.monotonic()
    while time.monotonic() - started < 0.6:
        adapter.battery()  # each read sees only ~0.5 % of new charge
        time.sleep(0.05)
    assert adapter.battery().percent >= 14


def test_set_clock_and_wearer_persist(camera: Path) -> None:
    update_state(camera, lambda s: replace(s, clock_offset_s=-42.5))
    adapter = SimulatedAdapter(camera)
    assert adapter.identify().clock_offset_s == -42.5
    now = datetime.now(UTC)
    adapter.set_clock(now)
    adapter.set_wearer(Wearer("4711", "J. Doe"))
    fresh = SimulatedAdapter(camera)
    info = fresh.identify()
    assert info.clock_offset_s == 0.0 and info.wearer_id == "4711"
    state = read_state(camera)
    assert state.clock_set_at == now and state.wearer == Wearer("4711", "J. Doe")
    assert camera_json(camera)["wearer"] == {"officer_id": "4711", "name": "J. Doe"}
    fresh.set_wearer(None)
    assert SimulatedAdapter(camera).identify().wearer_id is None
    fresh.set_clock(datetime(2030, 1, 1, 12, 0))  # naive: taken as UTC
    assert read_state(camera).clock_set_at == datetime(2030, 1, 1, 12, 0, tzinfo=UTC) > now + timedelta(days=1)


# --- memory -----------------------------------------------------------------------------------

_STREAM_SCRIPT = """
import hashlib, resource, sys
from pathlib import Path
from device_adapters.simulated.adapter import SimulatedAdapter

adapter = SimulatedAdapter(Path(sys.argv[1]))
[rec] = [r for r in adapter.list_recordings() if r.key.endswith("BIG.MP4")]
buf = bytearray(1 << 20)  # warm up the allocator with the reader's own chunk size
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
digest = hashlib.sha256()
with adapter.open_recording(rec) as stream:
    while chunk := stream.read(1 << 20):
        digest.update(chunk)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(digest.hexdigest(), (after - before) * 1024)
"""


def test_streaming_a_large_recording_uses_bounded_memory(camera: Path, sim_cache: Path) -> None:
    key = "DCIM/100BODY/BIG.MP4"
    digest = make_large_recording(camera / key, 200 * 1024 * 1024, cache_dir=sim_cache)
    record_hash(camera, key, digest)
    # A fresh process, so ru_maxrss (a peak) is not masked by this test process's history.
    proc = subprocess.run(
        [sys.executable, "-c", _STREAM_SCRIPT, str(camera)], capture_output=True, text=True, check=True
    )
    streamed, growth = proc.stdout.split()
    assert streamed == digest
    assert int(growth) < 50 * 1024 * 1024


# --- check-out: settings and locate -------------------------------------------------------------


def test_settings_push_read_and_refuse(camera: Path) -> None:
    adapter = SimulatedAdapter(camera)
    assert adapter.read_settings() == {"prebuffer_s": "30", "prebuffer_audio": "false",
                                       "warning_tone": "true", "warning_led": "true"}
    adapter.push_settings({"prebuffer_s": "60", "prebuffer_audio": "true"})
    assert read_state(camera).settings["prebuffer_s"] == "60"
    assert adapter.read_settings()["prebuffer_audio"] == "true"
    for bad in ({"no_such": "1"}, {"prebuffer_s": "-1"}, {"prebuffer_s": "9999"}, {"warning_led": "yes"}):
        with pytest.raises(AdapterError):
            adapter.push_settings(bad)
    assert adapter.read_settings()["prebuffer_s"] == "60"  # a refused push changes nothing


def test_locate_flag(camera: Path) -> None:
    adapter = SimulatedAdapter(camera)
    assert read_state(camera).locating is False
    adapter.locate(True)
    assert read_state(camera).locating is True
    adapter.locate(False)
    assert read_state(camera).locating is False
