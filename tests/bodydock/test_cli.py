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
