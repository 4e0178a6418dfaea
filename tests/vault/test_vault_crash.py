"""Intake and the retention sweep SIGKILLed at random points (named crash points at a random
hit, and kills from outside at random moments), then rerun: the catalog is the same as after an
uninterrupted run, nothing is lost, deleted or logged twice, and both logs verify."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from station.timeutil import utcnow
from tests.conftest import ROOT
from tests.vault.vault_helpers import FakeDock, make_vault
from vault import access
from vault.accesslog import verify
from vault.catalog import ACCESS, AUDIT, open_catalog
from vault.config import load_config

INTAKE_POINTS = ["intake.before_decrypt", "intake.decrypted", "intake.committed", "intake.quarantine_committed",
                 "intake.quarantine_moved"]
SWEEP_POINTS = ["sweep.batch_marked", "sweep.file_deleted", "sweep.files_gone", "sweep.logged"]
N_GOOD, N_OLD = 8, 10


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A vault with deliveries waiting: good ones, two bad ones, an audit segment; some expired."""
    root = tmp_path_factory.mktemp("crash-template")
    env = make_vault(root / "v")
    cat = env.catalog()
    dock = FakeDock(root / "d", "dock-a", env.inbox, env.recipient)
    dock.register(cat)
    old = utcnow() - timedelta(days=60)
    for i in range(N_GOOD):
        dock.deliver(i, size=300_000 + i)
    for i in range(N_OLD):
        dock.deliver(100 + i, size=20_000, started=old + timedelta(minutes=i))
    dock.deliver(200, key=Ed25519PrivateKey.generate())  # re-signed with an unregistered key
    bad = dock.deliver(201, size=100_000)
    data = bytearray(bad["payload"].read_bytes())
    data[5000] ^= 0xFF
    bad["payload"].write_bytes(bytes(data))
    dock.cut_segment()
    cat.close()
    return root


def _copy(template: Path, dest: Path) -> Path:
    shutil.copytree(template / "v", dest)
    return dest / "vault.yaml"


def _audit_lines(cfg: Path) -> int:
    path = cfg.parent / "state" / "vault-audit.log"
    return path.read_bytes().count(b"\n") if path.exists() else 0


def _run(cfg: Path, *args: str, crash: str | None = None, kill_after: float | None = None,
         kill_after_lines: int | None = None) -> int:
    env = {**os.environ}
    env.pop("BODYDOCK_CRASH_AT", None)
    if crash:
        env["BODYDOCK_CRASH_AT"] = crash
    proc = subprocess.Popen([sys.executable, "-m", "vault.cli", "--config", str(cfg), *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if kill_after_lines is not None:
        # Wait until the work is under way (the log has grown), then kill a random moment later.
        start = _audit_lines(cfg)
        deadline = time.monotonic() + 60
        while proc.poll() is None and _audit_lines(cfg) < start + kill_after_lines and time.monotonic() < deadline:
            time.sleep(0.002)
    if kill_after is not None:
        time.sleep(kill_after)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
    return proc.wait(timeout=120)


def _state(cfg_path: Path) -> dict[str, object]:
    cfg = load_config(cfg_path)
    cat = open_catalog(cfg.state_dir)
    try:
        recs = sorted(tuple(r) for r in cat.all(
            "SELECT id, state, tag, sha256, payload_sha256, retention_until, wearer_id FROM recordings"))
        quarantine = sorted((r["manifest_path"], r["reason"], r["state"]) for r in cat.all("SELECT * FROM quarantine"))
        qfiles = sorted(p.name for p in cfg.quarantine_dir.rglob("*") if p.is_file())
        inbox = sorted(p.relative_to(cfg.inbox).as_posix() for p in cfg.inbox.rglob("*") if p.is_file())
        segs = sorted(tuple(r) for r in cat.all("SELECT station, first_seq, last_seq, sha256 FROM segments"))
        for name, path in ((ACCESS, cfg.access_log_path), (AUDIT, cfg.audit_log_path)):
            result = verify(path, cat.anchor(name))
            assert result.ok, (name, result.problem)
        pending = cat.all("SELECT * FROM pending_log")
        assert not pending
        log = [json.loads(line) for line in cfg.audit_log_path.read_text().splitlines()]
    finally:
        cat.close()
    events = Counter((e["what"], e["details"].get("recording") or e["details"].get("event")) for e in log
                     if e["what"] in ("recording.accepted", "delivery.quarantined", "recording.deleted",
                                      "audit_segment.accepted"))
    assert all(n == 1 for n in events.values()), [k for k, n in events.items() if n > 1]  # nothing logged twice
    return {"recordings": recs, "quarantine": quarantine, "qfiles": qfiles, "inbox": inbox, "segments": segs,
            "events": sorted(events)}


@pytest.fixture(scope="module")
def reference(template: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    cfg = _copy(template, tmp_path_factory.mktemp("crash-ref") / "v")
    assert _run(cfg, "intake", "--once") == 1  # two quarantined
    state = _state(cfg)
    recs = state["recordings"]
    assert isinstance(recs, list) and len(recs) == N_GOOD + N_OLD
    assert len(state["quarantine"]) == 2  # type: ignore[arg-type]
    return state


def test_intake_killed_at_named_points_then_rerun(template: Path, reference: dict[str, object],
                                                  tmp_path: Path) -> None:
    rng = random.Random(1309)
    for n, point in enumerate(INTAKE_POINTS * 2):
        cfg = _copy(template, tmp_path / f"run{n}")
        nth = rng.randint(1, 2 if "quarantine" in point else N_GOOD + N_OLD)
        rc = _run(cfg, "intake", "--once", crash=f"{point}@{nth}")
        assert rc == -signal.SIGKILL, (point, nth, rc)
        _run(cfg, "intake", "--once")
        assert _state(cfg) == reference, (point, nth)


def test_intake_killed_from_outside_at_random_moments(template: Path, reference: dict[str, object],
                                                      tmp_path: Path) -> None:
    rng = random.Random(77)
    rcs = []
    for n in range(4):
        cfg = _copy(template, tmp_path / f"run{n}")
        # Two kills in a row, then a clean run.
        rcs.append(_run(cfg, "intake", "--once", kill_after_lines=rng.randint(1, 6), kill_after=rng.uniform(0, 0.03)))
        rcs.append(_run(cfg, "intake", "--once", kill_after_lines=1, kill_after=rng.uniform(0, 0.03)))
        _run(cfg, "intake", "--once")
        assert _state(cfg) == reference
    assert -signal.SIGKILL in rcs  # at least one kill landed while intake was running


def _after_intake(template: Path, dest: Path) -> Path:
    cfg = _copy(template, dest)
    _run(cfg, "intake", "--once")
    vc = load_config(cfg)
    cat = open_catalog(vc.state_dir)
    held = next(r["id"] for r in cat.all("SELECT id FROM recordings WHERE id LIKE '%-0103'"))
    access.hold(vc, cat, held, case="KL-1", reason="complaint", user_name="privacy")
    cat.close()
    return cfg


def test_sweep_killed_at_random_points_then_rerun(template: Path, tmp_path: Path) -> None:
    ref_cfg = _after_intake(template, tmp_path / "ref")
    assert _run(ref_cfg, "retention", "--batch-size", "3") == 0
    reference = _state(ref_cfg)
    deleted = [r for r in reference["recordings"] if r[1] == "deleted"]  # type: ignore[attr-defined]
    assert len(deleted) == N_OLD - 1  # one is held
    rng = random.Random(2718)
    runs = [(p, rng.randint(1, 3 if p != "sweep.file_deleted" else N_OLD - 1)) for p in SWEEP_POINTS * 2]
    for n, (point, nth) in enumerate(runs):
        cfg = _after_intake(template, tmp_path / f"run{n}")
        rc = _run(cfg, "retention", "--batch-size", "3", crash=f"{point}@{nth}")
        assert rc == -signal.SIGKILL, (point, nth, rc)
        if n % 2:
            _run(cfg, "retention", "--batch-size", "3", kill_after_lines=1, kill_after=rng.uniform(0, 0.02))
        assert _run(cfg, "retention", "--batch-size", "3") == 0
        got = _state(cfg)
        # Deletion times differ from run to run; what was deleted, and how often, must not.
        assert _without_times(got) == _without_times(reference), (point, nth)


def _without_times(state: dict[str, object]) -> dict[str, object]:
    return {**state, "recordings": [r[:6] for r in state["recordings"]]}  # type: ignore[attr-defined]
