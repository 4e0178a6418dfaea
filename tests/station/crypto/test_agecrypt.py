"""Our age writer against the stock age CLI: every boundary case of the STREAM chunking."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from station.crypto.agecrypt import CHUNK, AgeEncryptor, encrypted_size
from station.crypto.keys import generate_age_identity


@pytest.fixture(scope="module")
def identities(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, str]]:
    d = tmp_path_factory.mktemp("ids")
    return [(d / f"id{i}.txt", generate_age_identity(d / f"id{i}.txt")) for i in range(2)]


def encrypt(data: bytes, recipients: list[str], piece: int) -> bytes:
    out = bytearray()
    enc = AgeEncryptor(recipients, out.extend)
    for i in range(0, len(data), piece):
        enc.update(data[i:i + piece])
    enc.finish()
    return bytes(out)


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 5 * CHUNK + 17, 3_000_001])
@pytest.mark.parametrize("piece", [1000, CHUNK, 1 << 20])
def test_stock_age_decrypts(tmp_path: Path, identities: list[tuple[Path, str]], size: int, piece: int) -> None:
    data = os.urandom(size)
    blob = encrypt(data, [r for _, r in identities], piece)
    f = tmp_path / "x.age"
    f.write_bytes(blob)
    for identity, _ in identities:  # vault key and escrow key both open it
        out = subprocess.run(["age", "-d", "-i", str(identity), str(f)], capture_output=True, check=True)
        assert out.stdout == data
    header_len = blob.index(b"\n---") + len(blob[blob.index(b"\n---"):].split(b"\n", 2)[1]) + 2
    assert len(blob) == encrypted_size(size, header_len)


def test_header_is_age_v1_with_x25519_stanzas(identities: list[tuple[Path, str]]) -> None:
    blob = encrypt(b"hello", [r for _, r in identities], 10)
    lines = blob.split(b"\n")
    assert lines[0] == b"age-encryption.org/v1"
    assert [ln.split(b" ")[1] for ln in lines if ln.startswith(b"-> ")] == [b"X25519", b"X25519"]


def test_tampered_ciphertext_is_rejected_by_age(tmp_path: Path, identities: list[tuple[Path, str]]) -> None:
    blob = bytearray(encrypt(os.urandom(200_000), [identities[0][1]], 4096))
    blob[-100] ^= 1
    f = tmp_path / "t.age"
    f.write_bytes(bytes(blob))
    r = subprocess.run(["age", "-d", "-i", str(identities[0][0]), str(f)], capture_output=True)
    assert r.returncode != 0


def test_unrelated_identity_cannot_decrypt(tmp_path: Path, identities: list[tuple[Path, str]]) -> None:
    other = tmp_path / "other.txt"
    generate_age_identity(other)
    f = tmp_path / "c.age"
    f.write_bytes(encrypt(b"secret footage", [identities[0][1]], 100))
    assert subprocess.run(["age", "-d", "-i", str(other), str(f)], capture_output=True).returncode != 0


def test_bad_recipient_is_refused() -> None:
    with pytest.raises(ValueError):
        AgeEncryptor(["age1notavalidrecipient"], lambda b: None)
