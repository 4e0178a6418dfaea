"""A payload the vault confirmed is never sent again: not over a differing copy, not in place of a missing one."""

from __future__ import annotations

import hashlib
from pathlib import Path

from station.storage.journal import LocalState, VaultStatus
from tests.conftest import wait_for
from tests.station.outbox_helpers import make_outbox, random_bytes
from upload.local import LocalDirTarget


def test_a_requeued_confirmed_recording_never_replaces_the_vault_file(tmp_path: Path) -> None:
    ob = make_outbox(tmp_path)
    original = random_bytes(200_000)
    row = ob.queue("CAM-1-R1", original)
    target = LocalDirTarget(tmp_path / "vault")
    d = ob.deliverer(target)
    d.start()
    wait_for(lambda: ob.status(row.id) == ("confirmed", "deleted"), 30, what="first delivery")
    d.stop()
    in_vault = next((tmp_path / "vault").rglob("*.mp4.age"))
    assert hashlib.sha256(in_vault.read_bytes()).hexdigest() == hashlib.sha256(original).hexdigest()

    # What the resume race did: a fresh copy (new ciphertext) in the store and the row queued again.
    other = random_bytes(200_000)
    assert row.store_path
    Path(row.store_path).write_bytes(other)
    ob.store.manifest_path(row.id).write_bytes(b'{"recording": "again"}\n')
    ob.journal.update_recording(row.id, vault_status=VaultStatus.QUEUED.value, local_state=LocalState.PRESENT.value,
                                stored_sha256=hashlib.sha256(other).hexdigest())
    d2 = ob.deliverer(target)
    d2.start()
    try:
        wait_for(lambda: ob.status(row.id)[0] == "confirmed" or d2.last_error is not None, 30, what="second try")
    finally:
        d2.stop()
    assert in_vault.read_bytes() == original, "the confirmed vault file was replaced"
    assert ob.status(row.id)[0] == "confirmed"  # the vault holds what it confirmed: confirmed again
    assert not list((tmp_path / "vault").rglob("*.partial"))

    # The vault lost the file it confirmed: the dock says so and does not send its own copy over it.
    in_vault.unlink()
    ob.journal.update_recording(row.id, vault_status=VaultStatus.QUEUED.value)
    d3 = ob.deliverer(target)
    d3.start()
    try:
        wait_for(lambda: d3.last_error is not None, 30, what="the refusal")
    finally:
        d3.stop()
    assert "never replaced" in (d3.last_error or "")
    assert not in_vault.exists() and ob.status(row.id)[0] != "confirmed"
    ob.close()
