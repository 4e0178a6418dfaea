"""A block device that vanishes mid-offload (a real loop device, detached) is a camera that left:
the slot is freed as for a yanked USB disk, no unverified copy stays behind as ``stored``, and
the offload resumes when the device returns."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from _mass_storage_helpers import have

from bodydock.assembly import build_station
from device_adapters.api import CameraGone
from device_adapters.mass_storage import blockdev
from device_adapters.mass_storage.adapter import MassStorageAdapterFactory
from device_adapters.mass_storage.images import MIB, make_exfat
from station.core.engine import Station
from station.sources.interface import DeviceArrived, DeviceEvent, DeviceSource, SourceSynced
from tests.conftest import journal_query, wait_for, write_station_config

pytestmark = [
    pytest.mark.skipif(not have("mkfs.exfat"), reason="exfatprogs is needed"),
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("losetup") is None, reason="needs root and losetup"),
]
FILES = {f"DCIM/100BODY/VID_{i:04d}.MP4": os.urandom(12 * MIB) for i in range(1, 7)}


def _attach(image: Path, node: str | None = None) -> str:
    args = ["losetup", node, str(image)] if node else ["losetup", "-f", "--show", str(image)]
    out = subprocess.run(args, capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip(f"no loop device: {out.stderr.strip()}")
    return node or out.stdout.strip()


def _detached(node: str) -> bool:
    # losetup -d on a device still open only marks it; it goes when the last handle closes.
    size = Path(f"/sys/class/block/{Path(node).name}/size")
    return not size.exists() or size.read_text().strip() == "0"


@pytest.fixture
def loop(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    image = tmp_path / "card.img"
    make_exfat(image, FILES, size=96 * MIB)
    node = _attach(image)
    yield image, node
    blockdev.set_read_only(node, False)  # the flag outlives the attachment otherwise
    subprocess.run(["losetup", "-d", node], capture_output=True, check=False)


def test_adapter_reports_a_detached_loop_device_as_gone(loop: tuple[Path, str]) -> None:
    _image, node = loop
    adapter = MassStorageAdapterFactory()(node)
    recs = adapter.list_recordings()
    subprocess.run(["losetup", "-d", node], check=True)
    wait_for(lambda: _detached(node), 60, what="loop device detached")
    with pytest.raises(CameraGone):
        adapter.open_recording(recs[0]).read()
    with pytest.raises(CameraGone):
        adapter.list_recordings()
    adapter.close()


class _Dock(DeviceSource):
    """One slot; the test docks the camera again by calling ``dock``."""

    def __init__(self, locator: str) -> None:
        self.locator = locator
        self._post: Callable[[DeviceEvent], None] | None = None

    def start(self, post: Callable[[DeviceEvent], None]) -> None:
        self._post = post
        self.dock()
        post(SourceSynced())

    def dock(self) -> None:
        assert self._post is not None
        self._post(DeviceArrived(slot_id=1, adapter="mass_storage", locator=self.locator))

    def stop(self) -> None:
        pass


def test_loop_device_detached_mid_offload_then_back(loop: tuple[Path, str], tmp_path: Path) -> None:
    image, node = loop
    env = write_station_config(tmp_path / "station", slots=1, verify="reread")
    dock = _Dock(node)
    st: Station = build_station(env.load(), source=dock)
    st.start()
    try:
        def rows() -> dict[str, str]:
            got = journal_query(env.state, "SELECT source_key, status FROM recordings")
            return {str(k): str(s) for k, s in got}

        wait_for(lambda: "copying" in rows().values(), 300, interval=0.01, what="the offload is under way")
        subprocess.run(["losetup", "-d", node], check=True)
        wait_for(lambda: st.views()[0].state in ("empty", "fault"), 300, what="the slot sees the camera leave")
        assert st.views()[0].state == "empty", st.views()[0]
        audit = (env.state / "audit.log").read_text()
        assert '"camera.removed"' in audit and "unreadable" not in audit
        assert "slot.fault" not in audit, "a camera that left is not a fault"
        left = rows()
        assert "stored" not in left.values(), f"an unverified copy was left as stored: {left}"
        assert any(s != "verified" for s in left.values()), f"the device left too late to test anything: {left}"
        for path in env.store.rglob("*.age"):  # every copy in the store is a verified one
            rid = path.name.split(".", 1)[0]
            status = journal_query(env.state, "SELECT status FROM recordings WHERE id=?", (rid,))
            assert status == [("verified",)], f"{path.name} is in the store but {status}"

        wait_for(lambda: _detached(node), 300, what="loop device released")
        _attach(image, node)
        dock.dock()
        wait_for(lambda: len(rows()) == len(FILES) and set(rows().values()) == {"verified"}, 300,
                 what="the offload resumed and verified every recording")
        shas = journal_query(env.state, "SELECT source_key, sha256 FROM recordings")
        assert {str(k): str(s) for k, s in shas} == {k: hashlib.sha256(v).hexdigest() for k, v in FILES.items()}
    finally:
        st.stop()
