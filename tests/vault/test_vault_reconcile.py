"""Completeness: the dock's signed audit segments must form one chain, and the vault must hold
exactly what that audit says was offloaded."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from station.storage.audit import AuditLog
from tests.vault.vault_helpers import FakeDock, make_vault
from vault.reconcile import reconcile


def _setup(tmp_path: Path):  # type: ignore[no-untyped-def]
    env = make_vault(tmp_path / "v")
    cat = env.catalog()
    dock = FakeDock(tmp_path / "d", "dock-a", env.inbox, env.recipient)
    dock.register(cat)
    return env, cat, dock


def _report(env, cat):  # type: ignore[no-untyped-def]
    env.intake(cat).run_once()
    (r,) = reconcile(env.cfg, cat)
    return r


def test_complete_vault_reconciles_and_writes_a_metric(tmp_path: Path) -> None:
    env, cat, dock = _setup(tmp_path)
    for i in range(3):
        dock.deliver(i)
    dock.cut_segment()
    for i in range(3, 5):
        dock.deliver(i)
    dock.cut_segment()
    time.sleep(0.01)
    dock.deliver(9)  # offloaded after the last segment: not yet covered
    r = _report(env, cat)
    assert r.ok and r.chain_ok and r.segments == 2 and r.audit_offloads == 5 and r.in_vault == 6
    assert r.awaiting_audit == ["CAM-dock-a-0009"] and not r.missing and not r.unexpected
    metrics = env.cfg.metrics_path.read_text()
    assert 'bodydock_vault_reconcile_missing{station="dock-a"} 0' in metrics
    assert 'bodydock_vault_audit_chain_ok{station="dock-a"} 1' in metrics


def test_missing_segment_is_a_gap(tmp_path: Path) -> None:
    env, cat, dock = _setup(tmp_path)
    dock.deliver(1)
    dock.cut_segment()
    dock.deliver(2)
    seg2 = dock.cut_segment()
    dock.deliver(3)
    dock.cut_segment()
    seg2.unlink()
    seg2.with_name(seg2.name.replace(".jsonl", ".manifest.json")).unlink()
    r = _report(env, cat)
    assert not r.chain_ok and not r.ok and any("gap: audit entries 2..2" in p for p in r.chain_problems)
    # Recording 2 is in the vault; the audit that would account for it never arrived.
    assert r.awaiting_audit == ["CAM-dock-a-0002"] and r.audit_offloads == 2
    assert 'bodydock_vault_audit_chain_ok{station="dock-a"} 0' in env.cfg.metrics_path.read_text()


def test_reordered_lines_in_a_resigned_segment_are_rejected(tmp_path: Path) -> None:
    env, cat, dock = _setup(tmp_path)
    dock.deliver(1)
    dock.deliver(2)
    lines = dock.audit.path.read_bytes().splitlines(keepends=True)
    dock.write_segment([lines[1], lines[0]])  # signed by the dock's own key, hashes consistent
    env.intake(cat).run_once()
    (q,) = cat.all("SELECT reason FROM quarantine")
    assert "reordered" in q["reason"]


def test_forked_and_reordered_segments_break_the_chain(tmp_path: Path) -> None:
    env, cat, dock = _setup(tmp_path)
    dock.deliver(1)
    dock.cut_segment()  # entry 1
    snapshot = tmp_path / "fork.log"
    shutil.copy(dock.audit.path, snapshot)
    dock.deliver(2)
    dock.cut_segment()  # entry 2
    env.intake(cat).run_once()
    # A second history from the same point, signed with the same station key: a fork.
    fork = AuditLog(snapshot)
    fork.append(who="system", what="recording.offloaded", details={"recording": "CAM-dock-a-0077"})
    fork.append(who="system", what="camera.wipe")
    lines = snapshot.read_bytes().splitlines(keepends=True)
    dock.write_segment([lines[1]], tag="-fork")  # entry 2 again, other content
    dock.write_segment([lines[2]], tag="-fork")  # entry 3 chained to the fork, not to the real entry 2
    r = _report(env, cat)
    assert not r.chain_ok
    assert any(p.startswith("fork: two different segments hold entries 2..2") for p in r.chain_problems)
    assert any("3..3 does not continue the chain" in p for p in r.chain_problems)
    assert {"recording": "CAM-dock-a-0077", "why": "not in the vault"} in r.missing


def test_recording_deleted_behind_the_toolkits_back_is_missing(tmp_path: Path) -> None:
    env, cat, dock = _setup(tmp_path)
    recs = [dock.deliver(i) for i in range(3)]
    dock.cut_segment()
    assert _report(env, cat).ok
    recs[1]["payload"].unlink()
    (r,) = reconcile(env.cfg, cat)
    assert r.missing == [{"recording": recs[1]["id"], "why": "catalogued, but its file is gone or changed"}]
    # --deep re-hashes: a same-size overwrite is caught too.
    data = bytearray(recs[2]["payload"].read_bytes())
    data[-1] ^= 1
    recs[2]["payload"].write_bytes(bytes(data))
    (r,) = reconcile(env.cfg, cat, deep=True)
    assert {m["recording"] for m in r.missing} == {recs[1]["id"], recs[2]["id"]}
    assert cat.all("SELECT * FROM alerts WHERE kind='reconcile'")


def test_recording_the_audit_never_mentions_is_unexpected(tmp_path: Path) -> None:
    env, cat, dock = _setup(tmp_path)
    dock.deliver(1)
    size = dock.audit.path.stat().st_size
    rec = dock.deliver(2)
    # The dock's audit never recorded offloading recording 2 (its line is gone before any segment).
    dock.audit.close()
    with dock.audit.path.open("r+b") as fh:
        fh.truncate(size)
    dock.audit = AuditLog(dock.audit.path)
    time.sleep(0.01)
    dock.audit.append(who="system", what="camera.wipe")
    dock.cut_segment()
    r = _report(env, cat)
    assert r.chain_ok and r.unexpected == [rec["id"]] and not r.ok
