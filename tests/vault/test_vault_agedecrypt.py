"""The vault's age decryption: every applicable C2SP/CCTV vector (outcome class and payload
SHA-256), files written by the stock age CLI and by the dock's encryptor, bounded memory."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import tracemalloc
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from station.crypto.agecrypt import AgeEncryptor
from station.crypto.keys import generate_age_identity, load_age_identity, parse_age_identity
from tests.vault.cctv import Vector, load_vectors
from vault import agedecrypt

VECTORS = load_vectors()
APPLICABLE = [v for v in VECTORS if v.applicable]
OUTCOME = {agedecrypt.AgeHeaderError: "header failure", agedecrypt.AgeNoMatchError: "no match",
           agedecrypt.AgeHmacError: "HMAC failure", agedecrypt.AgePayloadError: "payload failure"}


def test_vector_set_is_the_pinned_package() -> None:
    # Every outcome class is represented, so a decoder that always fails (or always succeeds) fails here.
    assert len(VECTORS) == 143
    assert {v.expect for v in APPLICABLE} == {"success", "header failure", "no match", "HMAC failure",
                                              "payload failure"}
    assert len(APPLICABLE) >= 60


@pytest.mark.parametrize("vector", APPLICABLE, ids=[v.name for v in APPLICABLE])
def test_cctv_vector(vector: Vector) -> None:
    identities = [parse_age_identity(i) for i in vector.identities]
    released = hashlib.sha256()
    try:
        agedecrypt.decrypt(io.BytesIO(vector.data), identities, released.update)
        outcome = "success"
    except agedecrypt.AgeError as exc:
        outcome = OUTCOME[type(exc)]
    assert outcome == vector.expect
    if outcome in ("success", "payload failure") and vector.get("payload"):
        # Whatever plaintext was released before a failure must match too.
        assert released.hexdigest() == vector.get("payload")


def test_decrypts_stock_age_cli_output_across_chunk_boundaries(tmp_path: Path) -> None:
    recipient = generate_age_identity(tmp_path / "id.txt")
    ident = load_age_identity(tmp_path / "id.txt")
    for size in (0, 1, 65536, 65537, 3 * 65536 + 5):
        plain = os.urandom(size)
        (tmp_path / "p").write_bytes(plain)
        subprocess.run(["age", "-r", recipient, "-o", str(tmp_path / "c"), str(tmp_path / "p")], check=True)
        out = bytearray()
        with (tmp_path / "c").open("rb") as fh:
            assert agedecrypt.decrypt(fh, [ident], out.extend) == size
        assert bytes(out) == plain


def test_memory_does_not_grow_with_file_size(tmp_path: Path) -> None:
    recipient = generate_age_identity(tmp_path / "id.txt")
    ident = load_age_identity(tmp_path / "id.txt")
    path = tmp_path / "big.age"
    block = os.urandom(1 << 20)
    with path.open("wb") as fh:
        enc = AgeEncryptor([recipient], fh.write)
        for _ in range(48):
            enc.update(block)
        enc.finish()
    h = hashlib.sha256()
    tracemalloc.start()
    with path.open("rb") as fh:
        n = agedecrypt.decrypt(fh, [ident], h.update)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert n == 48 << 20
    assert peak < 8 << 20, f"peak {peak} bytes for a 48 MiB file"


def test_wrong_identity_is_no_match(tmp_path: Path) -> None:
    recipient = generate_age_identity(tmp_path / "a.txt")
    generate_age_identity(tmp_path / "b.txt")
    buf = io.BytesIO()
    enc = AgeEncryptor([recipient], buf.write)
    enc.update(b"x" * 100)
    enc.finish()
    with pytest.raises(agedecrypt.AgeNoMatchError):
        agedecrypt.decrypt(io.BytesIO(buf.getvalue()), [load_age_identity(tmp_path / "b.txt")], lambda b: None)


def test_open_payload_gives_the_key_and_start_that_decrypt_uses(tmp_path: Path) -> None:
    # The portal's random access starts here: a chunk sealed at payload.start opens with payload.key.
    recipient = generate_age_identity(tmp_path / "id.txt")
    ident = load_age_identity(tmp_path / "id.txt")
    plain = os.urandom(65536 + 10)
    (tmp_path / "p").write_bytes(plain)
    subprocess.run(["age", "-r", recipient, "-o", str(tmp_path / "c"), str(tmp_path / "p")], check=True)
    cipher = (tmp_path / "c").read_bytes()
    payload = agedecrypt.open_payload(io.BytesIO(cipher), [ident])
    assert payload.start == len(cipher) - len(plain) - 2 * agedecrypt.TAG and "key" not in repr(payload)
    aead = ChaCha20Poly1305(payload.key)
    second = cipher[payload.start + agedecrypt.ENC_CHUNK :]
    assert aead.decrypt(agedecrypt.chunk_nonce(1, True), second, None) == plain[65536:]
    # The same strict header checks as the one-pass decryption: a changed stanza byte is refused.
    bad = bytearray(cipher)
    bad[cipher.index(b"\n-> ") + 5] ^= 0x01
    with pytest.raises(agedecrypt.AgeError):
        agedecrypt.open_payload(io.BytesIO(bytes(bad)), [ident])
