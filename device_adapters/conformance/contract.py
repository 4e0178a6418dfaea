"""The adapter contract, checked against an adapter and its simulator (see docs/adapters.md).

Collected by the plugin for each ``--bodydock-adapter NAME``; every test runs once per simulator
variant. Capability-gated tests check both sides: what a capability promises works, and what the
descriptor does not claim raises NotSupported (never a crash, never a silent no-op).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from device_adapters.api import (
    API_VERSION,
    AdapterDescriptor,
    AdapterError,
    AdapterFactory,
    CameraAdapter,
    CameraGone,
    Capability,
    Finding,
    LocatorKind,
    NotSupported,
    RecordingInfo,
    Wearer,
)
from device_adapters.conformance.harness import CameraSpec, SimRecording, SimulatedCamera, Simulator

GROUP = "bodydock.adapters"
C = Capability
START = datetime(2026, 3, 14, 9, 26, 53, tzinfo=UTC)


def _manifest(name: str) -> AdapterDescriptor:
    from importlib.metadata import entry_points

    eps = [ep for ep in entry_points(group=GROUP) if ep.name == name]
    if not eps:
        raise pytest.UsageError(f"no adapter named {name!r} is installed (entry point group {GROUP})")
    descriptor = eps[0].load()
    assert isinstance(descriptor, AdapterDescriptor)
    return descriptor


def _simulator(descriptor: AdapterDescriptor) -> Simulator:
    if not descriptor.simulator:
        raise pytest.UsageError(f"adapter {descriptor.name} names no simulator (AdapterDescriptor.simulator)")
    module, _, attr = descriptor.simulator.partition(":")
    sim = getattr(importlib.import_module(module), attr)()
    assert isinstance(sim, Simulator), f"{descriptor.simulator} is not a conformance Simulator"
    return sim


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "case" not in metafunc.fixturenames:
        return
    cases = []
    for name in metafunc.config.getoption("bodydock_adapter"):
        for variant in _simulator(_manifest(name)).variants:
            cases.append(pytest.param((name, variant), id=f"{name}-{variant}"))
    metafunc.parametrize("case", cases)


def _recordings(n: int = 4) -> tuple[SimRecording, ...]:
    out = []
    for i in range(n):
        # Sizes straddle chunk and cluster boundaries; contents are unique per recording.
        size = (0, 1, 4095, 4097, 70_001, 1_048_577)[i % 6] if i else 1
        body = hashlib.sha256(f"rec{i}".encode()).digest() * (size // 32 + 1)
        out.append(SimRecording(path=f"DCIM/100BODY/VID_{i + 1:04d}.MP4", data=body[:size],
                                started_at=START + timedelta(minutes=10 * i)))
    return tuple(out)


SPEC = CameraSpec(serial="CONF0001", recordings=_recordings(5))


@pytest.fixture
def descriptor(case: tuple[str, str]) -> AdapterDescriptor:
    return _manifest(case[0])


@pytest.fixture
def camera(case: tuple[str, str], tmp_path: Path) -> Iterator[SimulatedCamera]:
    name, variant = case
    cam = _simulator(_manifest(name)).create(tmp_path, SPEC, variant)
    yield cam
    cam.close()


@pytest.fixture
def adapter(camera: SimulatedCamera) -> Iterator[CameraAdapter]:
    a = camera.adapter()
    yield a
    a.close()


def _read(adapter: CameraAdapter, rec: RecordingInfo, chunk: int = 1 << 20) -> bytes:
    parts = []
    with adapter.open_recording(rec) as s:
        while True:
            b = s.read(chunk)
            if not b:
                break
            parts.append(b)
        assert s.read(chunk) == b"", "reads after the end must return b''"
    return b"".join(parts)


def _by_content(adapter: CameraAdapter) -> dict[bytes, RecordingInfo]:
    return {_read(adapter, r): r for r in adapter.list_recordings()}


# --- descriptor -----------------------------------------------------------------------------------


def test_manifest_is_static_and_valid(case: tuple[str, str], descriptor: AdapterDescriptor) -> None:
    assert descriptor.name == case[0]
    assert descriptor.api_version == API_VERSION
    assert all(isinstance(c, Capability) for c in descriptor.capabilities)
    assert isinstance(descriptor.locator, LocatorKind)
    for vid, pid in descriptor.usb_ids:
        assert 0 <= vid <= 0xFFFF and 0 <= pid <= 0xFFFF
    for key, pattern in descriptor.udev_properties:
        assert key and pattern and key == key.upper()
    module, _, attr = descriptor.factory.partition(":")
    factory = getattr(importlib.import_module(module), attr)
    assert isinstance(factory, type) and issubclass(factory, AdapterFactory)


def test_manifest_import_does_not_load_the_adapter(case: tuple[str, str], descriptor: AdapterDescriptor) -> None:
    code = (
        "import json, sys\n"
        "from importlib.metadata import entry_points\n"
        f"ep = [e for e in entry_points(group={GROUP!r}) if e.name == {case[0]!r}][0]\n"
        "before = set(sys.modules)\n"
        "ep.load()\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = json.loads(out)
    factory_module = descriptor.factory.partition(":")[0]
    assert factory_module not in loaded, "the descriptor module must not import the adapter implementation"
    heavy = [m for m in loaded if m.split(".")[0] in ("usb", "pyudev", "gi", "ffmpeg")]
    assert not heavy, f"importing the descriptor pulled in {heavy}"


# --- identify, list, stream, hash ------------------------------------------------------------------


def test_identify(camera: SimulatedCamera, adapter: CameraAdapter) -> None:
    info = adapter.identify()
    assert info.serial == camera.serial
    assert isinstance(info.model, str) and info.model
    assert adapter.identify() == info


def test_list_matches_the_camera(adapter: CameraAdapter) -> None:
    listed = adapter.list_recordings()
    assert len({r.key for r in listed}) == len(listed) == len(SPEC.recordings)
    contents = _by_content(adapter)
    assert Counter(contents.keys()) == Counter(r.data for r in SPEC.recordings)
    for data, rec in contents.items():
        assert rec.size == len(data)
        assert rec.extension and "/" not in rec.extension
        if rec.started_at is not None:
            assert rec.started_at.tzinfo is not None, "started_at must be timezone-aware"
    assert list(adapter.findings()) == [], "a clean camera has no findings"


def test_keys_are_stable_across_dockings(camera: SimulatedCamera, adapter: CameraAdapter) -> None:
    first = sorted((r.key, r.size) for r in adapter.list_recordings())
    again = camera.adapter()
    try:
        assert sorted((r.key, r.size) for r in again.list_recordings()) == first
    finally:
        again.close()


@pytest.mark.parametrize("chunk", [1, 4093, 65536, 1 << 20])
def test_stream_in_any_chunk_size(adapter: CameraAdapter, chunk: int) -> None:
    biggest = max(adapter.list_recordings(), key=lambda r: r.size)
    want = {r.data for r in SPEC.recordings}
    if chunk == 1 and biggest.size > 100_000:
        biggest = sorted(adapter.list_recordings(), key=lambda r: r.size)[-2]
    assert _read(adapter, biggest, chunk) in want


def test_device_hash(descriptor: AdapterDescriptor, adapter: CameraAdapter) -> None:
    for data, rec in _by_content(adapter).items():
        if C.HASH in descriptor.capabilities:
            assert rec.device_sha256 == hashlib.sha256(data).hexdigest()
        else:
            assert rec.device_sha256 is None


# --- wipe ------------------------------------------------------------------------------------------


def test_wipe_removes_exactly_the_given_recordings(
    descriptor: AdapterDescriptor, camera: SimulatedCamera, adapter: CameraAdapter
) -> None:
    if C.WIPE not in descriptor.capabilities:
        with pytest.raises(AdapterError):
            adapter.wipe(list(adapter.list_recordings())[:1])
        assert len(camera.stored()) == len(SPEC.recordings)
        return
    contents = _by_content(adapter)
    victims = [contents[SPEC.recordings[0].data], contents[SPEC.recordings[2].data]]
    outcome = adapter.wipe(victims)
    assert set(outcome.removed) == {v.key for v in victims}
    assert outcome.method
    remaining = Counter(camera.stored().values())
    assert remaining == Counter(r.data for i, r in enumerate(SPEC.recordings) if i not in (0, 2))
    fresh = camera.adapter()
    try:
        assert Counter(_by_content(fresh).keys()) == remaining, "the survivors must still read back intact"
    finally:
        fresh.close()
    # Again: already absent is not an error (a retry after a crash mid-wipe).
    again = adapter.wipe(victims)
    assert set(again.removed) == {v.key for v in victims}


def test_wipe_refuses_a_recording_that_changed(descriptor: AdapterDescriptor, camera: SimulatedCamera,
                                               adapter: CameraAdapter) -> None:
    if C.WIPE not in descriptor.capabilities:
        pytest.skip("no wipe capability")
    rec = max(adapter.list_recordings(), key=lambda r: r.size)
    stale = RecordingInfo(key=rec.key, size=rec.size + 1, started_at=rec.started_at, extension=rec.extension)
    with pytest.raises(AdapterError):
        adapter.wipe([stale])
    assert len(camera.stored()) == len(SPEC.recordings), "a refused wipe removes nothing"


# --- clock, wearer, battery, settings, firmware -----------------------------------------------------


def test_clock(descriptor: AdapterDescriptor, adapter: CameraAdapter) -> None:
    now = datetime.now(UTC)
    if C.SET_CLOCK in descriptor.capabilities:
        adapter.set_clock(now)
        assert abs(adapter.identify().clock_offset_s) < 5
    else:
        with pytest.raises(NotSupported):
            adapter.set_clock(now)


def test_wearer(descriptor: AdapterDescriptor, adapter: CameraAdapter) -> None:
    wearer = Wearer(officer_id="BOA-4711", name="J. de Vries")
    if C.SET_WEARER in descriptor.capabilities:
        adapter.set_wearer(wearer)
        assert adapter.identify().wearer_id == wearer.officer_id
        adapter.set_wearer(None)
    else:
        with pytest.raises(NotSupported):
            adapter.set_wearer(wearer)


def test_battery(descriptor: AdapterDescriptor, adapter: CameraAdapter) -> None:
    if C.BATTERY in descriptor.capabilities:
        b = adapter.battery()
        assert 0 <= b.percent <= 100
        assert b.health_percent is None or 0 <= b.health_percent <= 100
    else:
        with pytest.raises(NotSupported):
            adapter.battery()


def test_settings(descriptor: AdapterDescriptor, adapter: CameraAdapter) -> None:
    if C.SETTINGS in descriptor.capabilities:
        settings = dict(adapter.read_settings())
        assert settings and all(isinstance(k, str) and isinstance(v, str) for k, v in settings.items())
        if C.PUSH_SETTINGS in descriptor.capabilities:
            adapter.push_settings(settings)
            assert dict(adapter.read_settings()) == settings
            with pytest.raises(AdapterError):
                adapter.push_settings({"NO_SUCH_SETTING_XYZ": "1"})
    else:
        with pytest.raises(NotSupported):
            adapter.read_settings()
    if C.PUSH_SETTINGS not in descriptor.capabilities:
        with pytest.raises(NotSupported):
            adapter.push_settings({})


def test_locate(descriptor: AdapterDescriptor, adapter: CameraAdapter) -> None:
    if C.LOCATE in descriptor.capabilities:
        adapter.locate(True)
        adapter.locate(False)
    else:
        with pytest.raises(NotSupported):
            adapter.locate(True)


def test_firmware_not_claimed_means_not_supported(descriptor: AdapterDescriptor, adapter: CameraAdapter) -> None:
    if C.FIRMWARE in descriptor.capabilities:
        pytest.skip("firmware updates are vendor-specific; test them in the adapter's own suite")
    import io

    with pytest.raises(NotSupported):
        adapter.update_firmware(io.BytesIO(b"firmware"))


# --- errors ------------------------------------------------------------------------------------------


def test_unknown_recording_is_an_adapter_error(adapter: CameraAdapter) -> None:
    for key in ("DCIM/100BODY/NOPE.MP4", "../../etc/passwd", "/etc/passwd", ""):
        with pytest.raises(AdapterError):
            adapter.open_recording(RecordingInfo(key=key, size=10)).read(1)


VICTIM = b"a file outside the camera that no adapter call may read, change or remove\n"


def _hostile_keys(victims: list[Path], folder: str) -> list[str]:
    """Keys a hostile card (or a confused caller) could hand an adapter: each must be refused.
    ``folder`` is where the camera keeps a real recording."""
    up = [("../" * n) + "victim.txt" for n in range(1, 9)]
    keys = [*up, *(f"{folder}/{k}" for k in up), *(f"{folder}/./{k}" for k in up)]
    keys += [k.replace("/", "\\") for k in up] + [k.replace("/", "//") for k in up]
    keys += [str(v) for v in victims] + ["//" + str(v).lstrip("/") for v in victims]
    keys += [f"{folder}/VID\x00/../../victim.txt", f"{folder}\x00", f"{folder}/VID_0001.MP4\x00", "\x00",
             f"{folder}/\n../../victim.txt", f"{folder}/..", "..", ".", "/", ""]
    return keys


def test_hostile_keys_are_refused_on_every_call(case: tuple[str, str], tmp_path: Path) -> None:
    """open and the verifying re-read refuse a key that names anything outside the camera; wipe
    never touches anything outside it.

    The camera is made a few folders down, with a victim file in every folder above it, so a
    ``../`` of any depth (or an absolute path) lands on one.
    """
    name, variant = case
    work = tmp_path / "outside" / "a" / "b" / "work"
    work.mkdir(parents=True)
    victims = [tmp_path / "victim.txt", *(p / "victim.txt" for p in work.parents if tmp_path in p.parents)]
    for v in victims:
        v.write_bytes(VICTIM)
    descriptor = _manifest(name)
    cam = _simulator(descriptor).create(work, SPEC, variant)
    adapter = cam.adapter()
    try:
        real = next(iter(adapter.list_recordings()))
        before = cam.stored()
        for key in _hostile_keys(victims, real.key.rsplit("/", 1)[0] if "/" in real.key else "DCIM"):
            hostile = RecordingInfo(key=key, size=len(VICTIM), extension="mp4")
            for call in ("open", "re-read for the hash"):
                try:
                    with adapter.open_recording(hostile) as stream:
                        data = stream.read(1 << 20) + stream.read(1 << 20)
                except AdapterError:
                    continue
                except Exception as exc:  # a crash is not a refusal
                    pytest.fail(f"{call} of key {key!r} raised {type(exc).__name__}: {exc}, not AdapterError")
                pytest.fail(f"{call} of key {key!r} was not refused" + (" and read the file outside the camera"
                                                                       if data == VICTIM else ""))
            # A wipe may refuse the key or treat it as a recording already gone (the retry rule);
            # either way nothing outside the camera, and nothing on it, is touched.
            try:
                adapter.wipe([hostile])
            except AdapterError:
                pass
            except Exception as exc:
                pytest.fail(f"wipe of key {key!r} raised {type(exc).__name__}: {exc}, not AdapterError")
            gone = [str(v) for v in victims if not v.exists() or v.read_bytes() != VICTIM]
            assert not gone, f"wipe of key {key!r} removed or changed {gone}, outside the camera"
            assert cam.stored() == before, f"a refused wipe (key {key!r}) must remove nothing from the camera"
    finally:
        adapter.close()
        cam.close()


def test_empty_camera(case: tuple[str, str], tmp_path: Path) -> None:
    name, variant = case
    cam = _simulator(_manifest(name)).create(tmp_path, CameraSpec(serial="EMPTY001", recordings=()), variant)
    try:
        a = cam.adapter()
        assert list(a.list_recordings()) == []
        assert a.identify().serial == cam.serial
        a.close()
    finally:
        cam.close()


def test_unplugged_camera_is_gone(camera: SimulatedCamera, adapter: CameraAdapter) -> None:
    rec = max(adapter.list_recordings(), key=lambda r: r.size)
    stream = adapter.open_recording(rec)
    stream.read(1)
    camera.unplug()
    with pytest.raises(CameraGone):
        while stream.read(65536):
            pass
    stream.close()
    for call in (adapter.identify, adapter.list_recordings, lambda: adapter.open_recording(rec)):
        with pytest.raises(CameraGone):
            call()


def test_findings_are_findings(adapter: CameraAdapter) -> None:
    adapter.list_recordings()
    found = adapter.findings()
    assert all(isinstance(f, Finding) for f in found)


# --- threading and timeouts ----------------------------------------------------------------------------


def test_calls_from_different_threads(adapter: CameraAdapter) -> None:
    results: list[object] = []

    def run(fn: object) -> None:
        results.append(fn())  # type: ignore[operator]

    for fn in (adapter.identify, adapter.list_recordings, adapter.identify):
        t = threading.Thread(target=run, args=(fn,))
        t.start()
        t.join(30)
    assert len(results) == 3


def test_a_hang_is_contained_by_the_station(descriptor: AdapterDescriptor, camera: SimulatedCamera) -> None:
    from station.adapters.calls import AdapterTimeout, CallTimeouts, GuardedAdapter

    hangs: list[str] = []
    guarded = GuardedAdapter(descriptor, camera.adapter, CallTimeouts(call_s=0.5, list_s=0.5, read_s=0.5),
                             on_hang=hangs.append)
    assert guarded.identify().serial == camera.serial
    camera.hang()
    t0 = time.monotonic()
    with pytest.raises(AdapterTimeout):
        guarded.identify()
    assert time.monotonic() - t0 < 3
    assert hangs == ["identify"]
    guarded.close()
