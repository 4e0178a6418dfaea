"""The outbox steps aside while offloads are behind their cameras: the camera is the scarce resource."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from station.outbox import deliverer as deliverer_module
from tests.conftest import wait_for
from tests.station.outbox_helpers import make_outbox, random_bytes
from upload.local import LocalDirTarget


def test_transfers_wait_while_offloads_are_behind_then_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # However long the offloads stay behind (the real limit per request is YIELD_MAX_S).
    monkeypatch.setattr(deliverer_module, "YIELD_MAX_S", 3600.0)
    ob = make_outbox(tmp_path)
    ob.queue("rec-1", random_bytes(3 << 20))
    behind = threading.Event()
    behind.set()
    asked = [0]

    def offloads_behind() -> bool:
        asked[0] += 1
        return behind.is_set()

    d = ob.deliverer(LocalDirTarget(tmp_path / "vault"), yield_to=offloads_behind)
    d.start()
    try:
        wait_for(lambda: asked[0] >= 25, 60, what="the transfer waiting for the offloads")
        assert ob.status("rec-1") == ("uploading", "present")
        sent = sum(p.stat().st_size for p in (tmp_path / "vault").rglob("*") if p.is_file())
        assert sent == 0, "bytes went to the vault while the offloads were behind"
        behind.clear()
        wait_for(lambda: ob.status("rec-1") == ("confirmed", "deleted"), 60, what="the delivery after catching up")
    finally:
        d.stop()
        ob.close()


def test_a_waiting_transfer_still_stops_with_the_station(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deliverer_module, "YIELD_MAX_S", 3600.0)
    ob = make_outbox(tmp_path)
    ob.queue("rec-1", random_bytes(1 << 20))
    asked = threading.Event()

    def offloads_behind() -> bool:
        asked.set()
        return True

    d = ob.deliverer(LocalDirTarget(tmp_path / "vault"), yield_to=offloads_behind)
    d.start()
    try:
        assert asked.wait(60)
    finally:
        d.stop()  # joins the workers: a transfer stuck waiting would hold this for its 30 s
    assert not any(t.is_alive() for t in d._threads)
    assert ob.status("rec-1")[1] == "present"
    ob.close()
