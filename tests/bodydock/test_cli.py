"""The command line as staff and CI use it: real subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, write_station_config


def bodydock(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bodydock.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def test_version() -> None:
    r = bodydock("--version")
    assert r.returncode == 0 and r.stdout.startswith("bodydock ")


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    work = tmp_path_factory.mktemp("demo")
    r = bodydock("demo", "--slots", "2", "--cameras", "3", "--recordings", "2", "--seconds", "1",
                 "--workdir", str(work))
    return r, work


def test_demo_delivers_everything_and_exits_zero(demo_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    r, work = demo_run
    assert r.returncode == 0, r.stdout + r.stderr
    assert "DEMO OK" in r.stdout and "Summary" in r.stdout
    assert len(list((work / "vault").rglob("*.mp4.age"))) == 6


def test_audit_verify_passes_on_demo_log_and_fails_after_tampering(
    demo_run: tuple[subprocess.CompletedProcess[str], Path], tmp_path: Path
) -> None:
    _, work = demo_run
    cfg = str(work / "station.yaml")
    ok = bodydock("audit", "verify", "--config", cfg)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "chain intact" in ok.stdout
    log = work / "state" / "audit.log"
    original = log.read_bytes()
    lines = original.splitlines(keepends=True)
    try:
        for tampered in (
            [*lines[:3], lines[3].replace(b'"system"', b'"BOA-9999"', 1), *lines[4:]],  # edit
            lines[:3] + lines[4:],  # delete
            [*lines[:3], lines[4], lines[3], *lines[5:]],  # reorder
            lines[:-1],  # truncate
        ):
            log.write_bytes(b"".join(tampered))
            bad = bodydock("audit", "verify", "--config", cfg)
            assert bad.returncode == 1 and "BROKEN" in bad.stdout
    finally:
        log.write_bytes(original)


def test_verify_command_checks_vault_manifests(demo_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    _, work = demo_run
    pin = ("--trust", str(work / "trusted-stations.txt"))  # the demo pins its station's key there
    manifests = sorted((work / "vault").rglob("*.manifest.json"))
    r = bodydock("verify", *pin, *map(str, manifests))
    assert r.returncode == 0 and r.stdout.count("OK (signature and SHA-256)") == len(manifests)
    with_identity = bodydock("verify", *pin, "--identity", str(work / "vault-identity.txt"), str(manifests[0]))
    assert with_identity.returncode == 0 and "plaintext SHA-256" in with_identity.stdout
    payload = next((work / "vault").rglob("*.mp4.age"))
    data = bytearray(payload.read_bytes())
    data[len(data) // 2] ^= 0x01
    payload.write_bytes(bytes(data))
    flipped = bodydock("verify", *pin, str(payload))
    assert flipped.returncode == 1 and "FAILED" in flipped.stdout
    raw = manifests[1].read_bytes()
    for offset in (len(raw) // 3, len(raw) - 20):  # one byte in the body, one in the signature
        flipped_mf = bytearray(raw)
        flipped_mf[offset] ^= 0x02
        manifests[1].write_bytes(bytes(flipped_mf))
        assert bodydock("verify", *pin, str(manifests[1])).returncode == 1
    manifests[1].write_bytes(raw)
    mf = manifests[0]
    doc = json.loads(mf.read_bytes())
    doc["manifest"]["size"] += 1
    mf.write_text(json.dumps(doc))
    assert bodydock("verify", *pin, str(mf)).returncode == 1


@pytest.mark.parametrize(
    ("edit", "key_path"),
    [
        (lambda t: t.replace("policies:", "policies:\n  turbo: true"), "policies.turbo"),
        (lambda t: t.replace("min_battery_percent: 50", "min_battery_percent: high"), "policies.min_battery_percent"),
        (lambda t: t.replace("keys: {signing_key: keys/signing.key}", "keys: {signing_key: keys/nope.key}"),
         "keys.signing_key"),
    ],
    ids=["unknown-key", "wrong-type", "missing-key-file"],
)
def test_run_refuses_invalid_config_naming_the_key(tmp_path: Path, edit, key_path: str) -> None:  # type: ignore[no-untyped-def]
    env = write_station_config(tmp_path)
    env.config_path.write_text(edit(env.config_path.read_text()))
    r = bodydock("run", "--config", str(env.config_path), timeout=30)
    assert r.returncode == 2
    assert key_path in r.stderr and str(env.config_path) in r.stderr


@pytest.mark.parametrize("mode", [0o640, 0o604])
def test_run_refuses_readable_signing_key(tmp_path: Path, mode: int) -> None:
    env = write_station_config(tmp_path)
    os.chmod(tmp_path / "keys" / "signing.key", mode)
    r = bodydock("run", "--config", str(env.config_path), timeout=30)
    assert r.returncode == 2 and "keys.signing_key" in r.stderr


# --- the faces of the command line (issue 17) ---------------------------------------------------------


def test_keygen_makes_a_missing_key_folder_instead_of_a_traceback(tmp_path: Path) -> None:
    key = tmp_path / "keys" / "signing.key"
    r = bodydock("keygen", "--signing-key", str(key))
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert (key.parent.stat().st_mode & 0o777) == 0o700 and (key.stat().st_mode & 0o777) == 0o600
    assert "public key: ed25519:" in r.stdout and f"created folder {key.parent}" in r.stdout
    again = bodydock("keygen", "--signing-key", str(key))
    assert again.returncode == 1 and "refusing to overwrite" in again.stderr and "Traceback" not in again.stderr


def test_every_option_says_what_it_is() -> None:
    import argparse

    from bodydock.cli import build_parser

    missing = []

    def walk(p: argparse.ArgumentParser, path: str) -> None:
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction):
                for name, sub in a.choices.items():
                    walk(sub, f"{path} {name}")
            elif a.option_strings and a.help is None:
                missing.append(f"{path} {a.option_strings[0]}")

    walk(build_parser(), "bodydock")
    assert not missing, missing


def test_times_are_station_time_with_the_zone(tmp_path: Path) -> None:
    from bodydock.cli_shift import _slots_text

    rows = [{"id": 1, "state": "ready", "camera_serial": "CAM-1", "battery": 90, "since": "2026-01-15T12:00:00Z"},
            {"id": 2, "state": "charging", "camera_serial": "CAM-2", "since": "2026-07-15T12:00:00Z"}]
    text = _slots_text(rows, "Europe/Amsterdam")
    assert "since 15-01 13:00:00 CET" in text and "since 15-07 14:00:00 CEST" in text
    # `bodydock status` (offline here: no daemon) prints station time and says which zone.
    env = write_station_config(tmp_path)
    r = bodydock("status", "--config", str(env.config_path), timeout=120)
    assert "times are station time (Europe/Amsterdam)" in r.stdout, r.stdout + r.stderr
    assert " CET" in r.stdout or " CEST" in r.stdout


def test_demo_says_a_charging_slot_once() -> None:
    from bodydock.demo import _slot_line
    from station.core.engine import SlotView

    v = SlotView(id=3, state="charging", camera_serial="BWC-3", model=None, wearer_id=None, battery=72,
                 fault_reason=None, notice="charging (72%)", busy=None, recordings_done=0, recordings_total=0,
                 bytes_done=0, bytes_total=0)
    line = _slot_line(v)
    assert "charging (72%)" in line and "charging (charging" not in line


def test_roster_fields_are_documented() -> None:
    from station.shift.roster import _SCHEMA

    doc = (ROOT / "docs" / "shift.md").read_text()
    section = doc[doc.index("### Roster fields"):]
    fields = _SCHEMA["properties"]["officers"]["items"]["properties"]
    assert all(f"| `{name}` |" in section for name in fields), [n for n in fields if f"| `{n}` |" not in section]
