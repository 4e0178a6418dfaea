"""``bodydock verify`` trusts pinned station keys, never the key a manifest carries, and walks folders."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bodydock.cli import main
from station.crypto.keys import public_key_text
from station.crypto.signed import open_manifest, sign_manifest
from tests.conftest import write_station_config

DOCK = Ed25519PrivateKey.generate()


def put(folder: Path, rid: str, *, station: str = "dock-a", key: Ed25519PrivateKey = DOCK,
        body: dict[str, object] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    payload = folder / f"{rid}.mp4.age"
    payload.write_bytes(b"ciphertext of " + rid.encode())
    doc = body or {"recording_id": rid, "station": station, "wearer_id": "BOA-1", "tag": "uncategorised",
                   "started_at": "2026-11-23T08:00:00.000Z", "sha256": "0" * 64,
                   "payload": {"file": payload.name, "sha256": hashlib.sha256(payload.read_bytes()).hexdigest(),
                               "size": payload.stat().st_size}}
    mf = folder / f"{rid}.manifest.json"
    mf.write_bytes(sign_manifest(doc, key))
    return mf


def trust(tmp_path: Path, text: str | None = None) -> Path:
    path = tmp_path / "trusted-stations.txt"
    path.write_text(text if text is not None else f"# station keys\ndock-a {public_key_text(DOCK)}\n")
    return path


def run(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str]:
    rc = main(["verify", *map(str, args)])
    out = capsys.readouterr()
    return rc, out.out + out.err


def test_a_forged_manifest_resigned_with_a_new_key_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mf = put(tmp_path / "vault", "R1")
    pins = trust(tmp_path)
    assert run(capsys, "--trust", pins, mf)[0] == 0
    body = open_manifest(mf.read_bytes())
    body.pop("version")
    body.update(wearer_id="BOA-9", tag="evidence", started_at="2026-11-22T23:00:00.000Z")
    mf.write_bytes(sign_manifest(body, Ed25519PrivateKey.generate()))  # a valid signature, by anyone
    rc, out = run(capsys, "--trust", pins, mf)
    assert rc == 1 and "FAILED" in out and "different station key" in out and "OK" not in out


def test_a_station_without_a_pinned_key_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mf = put(tmp_path / "vault", "R2", station="dock-b", key=Ed25519PrivateKey.generate())
    rc, out = run(capsys, "--trust", trust(tmp_path), mf)
    assert rc == 1 and "'dock-b' has no pinned key" in out


def test_folders_are_searched_for_manifests(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    vault = tmp_path / "vault"
    for day, rid in (("2026/11/23", "R3"), ("2026/11/24", "R4")):
        put(vault / "dock-a" / day, rid)
    segment = vault / "dock-a" / "audit" / "2026" / "11" / "23" / "audit-dock-a-1-2.jsonl"
    segment.parent.mkdir(parents=True)
    segment.write_bytes(b'{"seq":1}\n{"seq":2}\n')
    put(segment.parent, "audit-dock-a-1-2", body={"kind": "audit-segment", "station": "dock-a", "file": segment.name,
                                                  "sha256": hashlib.sha256(segment.read_bytes()).hexdigest(),
                                                  "first_seq": 1, "last_seq": 2})
    rc, out = run(capsys, "--trust", trust(tmp_path), vault)
    assert rc == 0, out
    assert out.count("OK (signature and SHA-256), pinned key of dock-a") == 3
    assert "audit entries 1-2" in out
    (tmp_path / "empty").mkdir()
    rc, out = run(capsys, "--trust", trust(tmp_path), tmp_path / "empty")
    assert rc == 1 and "no manifests" in out


def test_the_vault_station_list_is_a_trust_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mf = put(tmp_path / "vault", "R5")
    listed = json.dumps([{"id": "dock-a", "public_key": public_key_text(DOCK), "fingerprint": "x"}])
    assert run(capsys, "--trust", trust(tmp_path, listed), mf)[0] == 0


@pytest.mark.parametrize("text,problem", [
    ("", "no station keys"),
    ("dock-a ed25519:AAAA\n", "line 1"),
    (f"dock-a {public_key_text(DOCK)}\ndock-a {public_key_text(Ed25519PrivateKey.generate())}\n", "pinned twice"),
])
def test_an_unusable_trust_file_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str,
                                            problem: str) -> None:
    rc, out = run(capsys, "--trust", trust(tmp_path, text), put(tmp_path / "vault", "R6"))
    assert rc == 2 and problem in out


def test_without_a_trust_file_the_docks_own_key_is_pinned(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from station.crypto.keys import load_signing_key

    env = write_station_config(tmp_path)
    own = load_signing_key(tmp_path / "keys" / "signing.key")
    mine = put(tmp_path / "vault", "R7", station="test-dock", key=own)
    other = put(tmp_path / "vault2", "R8", station="test-dock", key=Ed25519PrivateKey.generate())
    assert run(capsys, "--config", env.config_path, mine)[0] == 0
    assert run(capsys, "--config", env.config_path, other)[0] == 1
    rc, out = run(capsys, "--config", tmp_path / "missing.yaml", mine)
    assert rc == 2 and "--trust" in out
