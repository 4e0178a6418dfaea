"""Hostile cards (real mkfs.vfat / mkfs.exfat images with crafted entries): good recordings are
offloaded, hostile entries reported, nothing is written outside the store, and the camera is
not wiped while anything is unresolved."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from _mass_storage_helpers import Card, have, hostile_exfat, hostile_fat32, mp4_clip

from bodydock.assembly import build_station
from device_adapters.api import AdapterError, CameraAdapter
from device_adapters.mass_storage.adapter import MassStorageAdapterFactory
from station.core.engine import Station
from station.sources.interface import DeviceArrived, DeviceEvent, DeviceSource, SourceSynced
from tests.conftest import journal_query, wait_for, write_station_config

pytestmark = pytest.mark.skipif(not have("mkfs.vfat", "mkfs.exfat", "mcopy", "fsck.exfat"),
                                reason="dosfstools, exfatprogs, mtools and ffmpeg are needed")
BUILDERS: dict[str, Callable[..., Card]] = {"fat32": hostile_fat32, "exfat": hostile_exfat}


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return mp4_clip(tmp_path_factory.mktemp("clip"))


@pytest.fixture(params=["fat32", "exfat"])
def card(request: pytest.FixtureRequest, tmp_path: Path, clip: bytes) -> Card:
    return BUILDERS[request.param](tmp_path, clip)


@pytest.fixture(scope="module", params=["fat32", "exfat"])
def spam_card(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, clip: bytes) -> Card:
    return BUILDERS[request.param](tmp_path_factory.mktemp(f"spam-{request.param}"), clip, spam=100_000)


def _adapter(card: Card) -> CameraAdapter:
    return MassStorageAdapterFactory(station_timezone="Europe/Amsterdam")(str(card.image))


def _check_listing(card: Card, adapter: CameraAdapter) -> None:
    recs = adapter.list_recordings()
    assert sorted(r.key for r in recs) == sorted(card.good)
    for r in recs:
        with adapter.open_recording(r) as s:
            assert s.read() == card.good[r.key]
    paths = " ".join(f.path for f in adapter.findings())
    for bad in card.hostile:
        assert bad in paths, f"{bad!r} not reported; findings: {paths}"
    assert all(f.problem for f in adapter.findings())


def test_good_recordings_listed_hostile_entries_reported(card: Card) -> None:
    before = card.sha256()
    adapter = _adapter(card)
    _check_listing(card, adapter)
    with pytest.raises(AdapterError, match=r"refusing to wipe: .* unresolved"):
        adapter.wipe(adapter.list_recordings())
    assert card.sha256() == before, "the card must be untouched"


def test_hundred_thousand_tiny_files(spam_card: Card) -> None:
    before = spam_card.sha256()
    adapter = _adapter(spam_card)
    _check_listing(spam_card, adapter)
    # Bounded work, not a wall-clock limit (this machine may be busy): the scan stops at its entry limit.
    assert any("entries on the camera; stopped looking" in f.problem for f in adapter.findings())
    with pytest.raises(AdapterError, match="refusing to wipe"):
        adapter.wipe(adapter.list_recordings())
    assert spam_card.sha256() == before


class _Docked(DeviceSource):
    """One camera in slot 1 from the start, as a udev source would report it."""

    def __init__(self, locator: str) -> None:
        self.locator = locator

    def start(self, post: Callable[[DeviceEvent], None]) -> None:
        post(DeviceArrived(slot_id=1, adapter="mass_storage", locator=self.locator))
        post(SourceSynced())

    def stop(self) -> None:
        pass


@pytest.fixture
def running() -> Iterator[list[Station]]:
    stations: list[Station] = []
    yield stations
    for s in stations:
        s.stop()


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_hostile_card_through_the_station(card: Card, tmp_path: Path, running: list[Station]) -> None:
    env = write_station_config(tmp_path / "station", slots=1)
    card_sha = card.sha256()
    outside_before = _tree(tmp_path) - {p for p in _tree(tmp_path) if p.startswith("station/")}
    st = build_station(env.load(), source=_Docked(str(card.image)))
    st.start()
    running.append(st)
    wait_for(lambda: st.views()[0].state == "fault", 120, what="slot faults on the unresolved entries")
    v = st.views()[0]
    assert v.fault_reason is not None and "not wiped" in v.fault_reason and "unresolved" in v.fault_reason
    # Every good recording has a verified copy; nothing hostile reached the journal.
    rows = journal_query(env.state, "SELECT source_key, status, sha256, size FROM recordings")
    assert sorted(r[0] for r in rows) == sorted(card.good)
    for key, status, sha, size in rows:
        assert status == "verified"
        assert sha == hashlib.sha256(card.good[str(key)]).hexdigest() and size == len(card.good[str(key)])
    # Reported: the wipe gate's refusal is in the audit log with every finding.
    audit = (env.state / "audit.log").read_text()
    assert '"result": "refused"' in audit or '"result":"refused"' in audit
    for bad in ("evil.mp4", "LINK.MP4", "LOOPDIR"):
        assert bad in audit
    # Not wiped, not even written to; nothing appeared outside the station's own folders.
    assert card.sha256() == card_sha
    outside_after = _tree(tmp_path) - {p for p in _tree(tmp_path) if p.startswith("station/")}
    assert outside_after == outside_before
    assert not list(tmp_path.rglob("evil.mp4"))
    stored = [p for p in env.store.rglob("*") if p.is_file()]
    assert all(p.resolve().is_relative_to(env.store.resolve()) for p in stored)


# --- a card some other driver mounted: real links and special files ------------------------------


def test_mounted_tree_refuses_links_fifos_and_device_nodes(tmp_path: Path) -> None:
    cam = tmp_path / "cam"
    body = cam / "DCIM" / "100BODY"
    body.mkdir(parents=True)
    (body / "GOOD.MP4").write_bytes(b"good footage")
    secret = tmp_path / "secret.mp4"
    secret.write_bytes(b"not the camera's")
    (body / "LINK.MP4").symlink_to(secret)
    (body / "LINKDIR").symlink_to(tmp_path)
    os.mkfifo(body / "PIPE.MP4")
    os.mknod(os.fsencode(body) + b"/\xffLATIN.MP4")  # a name that is not UTF-8
    (body / "LATE.MP4").write_bytes(b"x")
    device = True
    try:
        os.mknod(body / "NULL.MP4", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    except PermissionError:
        device = False
    adapter = MassStorageAdapterFactory()(str(cam))
    keys = sorted(r.key for r in adapter.list_recordings())
    assert keys == ["DCIM/100BODY/GOOD.MP4", "DCIM/100BODY/LATE.MP4"]
    problems = {f.path.rsplit("/", 1)[-1]: f.problem for f in adapter.findings()}
    assert "symbolic link" in problems["LINK.MP4"] and "symbolic link" in problems["LINKDIR"]
    assert "FIFO" in problems["PIPE.MP4"]
    assert "not valid text" in problems["\\xffLATIN.MP4"]
    if device:
        assert "device node" in problems["NULL.MP4"]
    with pytest.raises(AdapterError):
        adapter.open_recording(type(adapter.list_recordings()[0])(key="DCIM/100BODY/LINK.MP4", size=16)).read()
    with pytest.raises(AdapterError, match="refusing to wipe"):
        adapter.wipe(adapter.list_recordings())
    assert secret.read_bytes() == b"not the camera's" and (body / "GOOD.MP4").exists()
    # Swap a listed recording for a link after listing: the open must not follow it.
    rec = next(r for r in adapter.list_recordings() if r.key.endswith("GOOD.MP4"))
    (body / "GOOD.MP4").unlink()
    (body / "GOOD.MP4").symlink_to(secret)
    with pytest.raises(AdapterError):
        adapter.open_recording(rec).read()
