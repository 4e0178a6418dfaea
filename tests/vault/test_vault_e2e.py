"""End to end: a real dock (simulated cameras, the shift service, the local vault target) fills
the vault folder; then the vault toolkit, mostly through its command line: intake -> search ->
view with a purpose (logged before decryption) -> hold -> retention sweep -> consent
withdrawal (receipt) -> transfer package that `transfer verify` accepts and that is checked
independently (sha256sum; the signature with cryptography + rfc8785)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from device_adapters.simulated import camera as simcam
from device_adapters.simulated.generate import make_camera, record
from station.core.events import CheckinOpened
from station.crypto.keys import load_signing_key, public_key_text
from station.shift import Consent, ConsentMethod, Tag, TagRequest
from station.timeutil import iso, utcnow
from tests.conftest import ROOT, wait_for, write_station_config
from tests.station.shift_helpers import OFFICER_A, Dock, running_docks, start_dock, write_roster
from tests.vault.vault_helpers import make_vault
from vault.catalog import open_catalog
from vault.cli import main as vault_main
from vault.config import load_config
from vault.reconcile import reconcile
from vault.retention import sweep

docks = pytest.fixture(running_docks)


def _cli(cfg: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    rc = vault_main(["--config", str(cfg), *args])
    return rc, capsys.readouterr().out


def test_dock_to_vault_end_to_end(tmp_path: Path, docks: list[Dock], capsys: pytest.CaptureFixture[str]) -> None:
    # --- a real dock, audit segments every ~1 s -----------------------------------------------------
    env = write_station_config(tmp_path / "dock", slots=1, min_battery=50)
    text = env.config_path.read_text()
    line = f'  recipients: ["{env.recipient}"]\n'
    env.config_path.write_text(text.replace(line, line + "  upload: {audit_segment_minutes: 0.02}\n"))
    make_camera(env.cameras, "CAM-A", recordings=1, seconds=1, battery_percent=95, charge_rate_pps=0)
    cam = env.cameras / "CAM-A"
    dock = start_dock(env, write_roster(tmp_path / "roster.yaml"))
    docks.append(dock)
    simcam.dock(env.dock, 1, cam)
    dock.wait_state(1, "ready")
    got = dock.shift.checkout_by_pin(OFFICER_A["personnel_number"], OFFICER_A["pin"])
    assert got.camera_serial == "CAM-A"
    simcam.undock(env.dock, 1)
    dock.wait_state(1, "checked_out")
    for _ in range(3):
        record(cam, seconds=1.0)
    simcam.dock(env.dock, 1, cam)
    opened = dock.recorder.wait(CheckinOpened, lambda e: e.camera_serial == "CAM-A" and e.wearer_id is not None)
    wait_for(lambda: len(dock.shift.checkin(checkin_id=opened.checkin_id).recordings) == 3, 30,
             what="recordings listed")
    view = dock.shift.checkin(checkin_id=opened.checkin_id)
    me = dock.shift.authenticate_pin(OFFICER_A["personnel_number"], OFFICER_A["pin"])
    ev_id, learn_id, plain_id = (r.recording_id for r in view.recordings)
    dock.shift.tag(ev_id, TagRequest(Tag.EVIDENCE, case_number="PV-2026-0042"), me)
    dock.shift.tag(learn_id, TagRequest(Tag.LEARNING, consent=Consent(True, ConsentMethod.WRITTEN, None)), me)
    dock.wait_state(1, "ready")
    wait_for(lambda: all(r.in_vault for r in dock.shift.checkin(checkin_id=opened.checkin_id).recordings), 60,
             what="in vault")

    # --- the vault: register the dock by its printed identity ---------------------------------------
    venv = make_vault(tmp_path / "vault", identity=env.identity)
    vcfg = venv.root / "vault.yaml"
    vcfg.write_text(vcfg.read_text().replace("inbox: inbox", f"inbox: {env.vault}"))
    out = subprocess.run([sys.executable, "-m", "bodydock.cli", "identity", "--config", str(env.config_path)],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    key_line = next(line for line in out.splitlines() if line.startswith("public key: "))
    fp_line = next(line for line in out.splitlines() if line.startswith("fingerprint: "))
    key = key_line.removeprefix("public key: ")
    assert key == public_key_text(load_signing_key(env.root / "keys" / "signing.key"))
    rc, out = _cli(vcfg, "station", "add", "test-dock", "--key", key, "--fingerprint",
                   fp_line.removeprefix("fingerprint: "), capsys=capsys)
    assert rc == 0, out

    # --- intake until the dock's audit covers every offload, then reconcile ------------------------------
    def reconciled() -> bool:
        vault_main(["--config", str(vcfg), "intake", "--once"])
        cat = open_catalog(load_config(vcfg).state_dir)
        try:
            (r,) = reconcile(load_config(vcfg), cat)
            return r.audit_offloads == 4 and r.ok and not r.awaiting_audit
        finally:
            cat.close()

    wait_for(reconciled, 90, interval=0.5, what="every offload in the vault and in the dock's audit")
    dock.stop()
    docks.clear()
    capsys.readouterr()
    rc, out = _cli(vcfg, "reconcile", capsys=capsys)
    assert rc == 0 and "test-dock: OK; 4 in the vault, 4 in the dock's audit" in out, out

    # --- search: colleagues learn footage exists ----------------------------------------------------------
    rc, out = _cli(vcfg, "search", "--wearer", OFFICER_A["personnel_number"], "--json", "--as", "handler",
                   capsys=capsys)
    rows = json.loads(out)
    assert rc == 0 and {r["id"] for r in rows} == {ev_id, learn_id, plain_id}
    rc, out = _cli(vcfg, "search", "--case", "PV-2026-0042", "--json", "--as", "handler", capsys=capsys)
    assert [r["id"] for r in json.loads(out)] == [ev_id]
    assert "total" not in out.lower()

    # --- view with a purpose: the access is on disk before anything is decrypted ----------------------------
    vc = load_config(vcfg)
    crash_env = {**os.environ, "BODYDOCK_CRASH_AT": "view.logged"}
    r = subprocess.run([sys.executable, "-m", "vault.cli", "--config", str(vcfg), "view", plain_id, "--purpose",
                        "complaint", "--case", "KL-2026-3", "--as", "handler", "--player", "true"],
                       cwd=ROOT, env=crash_env, capture_output=True)
    assert r.returncode == -9  # SIGKILLed right after the log write
    last = json.loads(vc.access_log_path.read_text().splitlines()[-1])
    assert (last["what"], last["details"]["recording"], last["why"]) == ("view.opened", plain_id, "complaint")
    assert not vc.views_dir().exists() or not any(vc.views_dir().iterdir())  # nothing was decrypted
    rc, _ = _cli(vcfg, "view", plain_id, "--purpose", "complaint", "--case", "KL-2026-3", "--as", "handler",
                 "--player", "true", capsys=capsys)
    assert rc == 0
    rc, _ = _cli(vcfg, "view", learn_id, "--purpose", "complaint", "--case", "KL-2026-3", "--as", "privacy",
                 "--player", "true", capsys=capsys)
    assert rc == 3  # learning footage never opens for a complaint
    rc, _ = _cli(vcfg, "view", plain_id, "--purpose", "appraisal", "--as", "privacy", capsys=capsys)
    assert rc == 3

    # --- hold, then a sweep 29 days on: the unheld uncategorised recording goes, the held one stays ----------
    first_id = next(r["id"] for r in json.loads(_cli(vcfg, "search", "--json", "--as", "handler",
                                                      capsys=capsys)[1]) if r["id"] not in (ev_id, learn_id, plain_id))
    rc, out = _cli(vcfg, "hold", plain_id, "--case", "KL-2026-3", "--reason", "complaint about the incident",
                   "--as", "privacy", capsys=capsys)
    assert rc == 0, out
    cat = open_catalog(vc.state_dir)
    report = sweep(cat, vc.inbox, now=iso(utcnow() + timedelta(days=29)))
    assert [d["id"] for d in report.deleted] == [first_id]
    assert [h["id"] for h in report.kept_on_hold] == [plain_id]
    assert not list(env.vault.rglob(f"{first_id}*")) and list(env.vault.rglob(f"{plain_id}*"))
    cat.close()

    # --- consent withdrawn for the learning recording -------------------------------------------------------
    rc, out = _cli(vcfg, "withdraw", learn_id, "--consent-ref", "INT-2026-7", "--as", "privacy", "--json",
                   capsys=capsys)
    receipt = json.loads(out)
    assert rc == 0 and receipt["recording_id"] == learn_id and receipt["consent_ref"] == "INT-2026-7"
    assert not list(env.vault.rglob(f"{learn_id}*"))

    # --- transfer package for the evidence -----------------------------------------------------------------
    rc, out = _cli(vcfg, "transfer", learn_id, "--to", "Politie", "--basis", "b", "--case", "PV-2026-0042",
                   "--as", "privacy", capsys=capsys)
    assert rc == 3
    rc, out = _cli(vcfg, "transfer", ev_id, "--to", "Politie Eenheid Midden-Nederland",
                   "--basis", "art. 6 lid 1 sub c AVG; vrijwillige verstrekking na vordering",
                   "--case", "PV-2026-0042", "--as", "privacy", "--out", str(tmp_path / "out"), capsys=capsys)
    assert rc == 0, out
    pkg = Path(out.strip().rsplit(" ", 1)[-1])
    rc, out = _cli(vcfg, "transfer", "verify", str(pkg), capsys=capsys)
    assert rc == 0 and "intact" in out, out
    subprocess.run(["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=pkg, check=True)
    doc = json.loads((pkg / "transfer-form.json").read_bytes())
    Ed25519PublicKey.from_public_bytes(base64.b64decode(doc["signature"]["key"].removeprefix("ed25519:"))).verify(
        base64.b64decode(doc["signature"]["value"]), rfc8785.dumps(doc["form"]))
    original = next(f for f in doc["form"]["files"] if f["kind"] == "recording")
    dock_manifest = json.loads((pkg / "manifests" / f"{ev_id}.manifest.json").read_bytes())["manifest"]
    assert original["sha256"] == dock_manifest["sha256"]  # byte-exact original, as the dock signed it
    assert dock_manifest["tag"] == "evidence" and dock_manifest["version"] == 2

    # --- every log verifies ----------------------------------------------------------------------------------
    rc, out = _cli(vcfg, "log", "verify", capsys=capsys)
    assert rc == 0 and out.count("chain intact") == 2, out
