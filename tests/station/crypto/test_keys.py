"""Tests for station.crypto.bech32 and station.crypto.keys, including interoperability with the age CLI."""

from __future__ import annotations

import os
import pickle
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from station.crypto import bech32, keys

# --- bech32: BIP-173 test vectors ----------------------------------------------------------------

BIP173_VALID = [
    "A12UEL5L",
    "a12uel5l",
    "an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs",
    "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
    "11" + "q" * 82 + "c8247j",  # exactly 90 characters
    "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
    "?1ezyfcl",
]

BIP173_INVALID = [
    ("\x201nwldj5", "outside"),  # HRP character out of range
    ("\x7f1axkwrx", "outside"),
    ("\x801eym55h", "outside"),
    (
        "an84characterslonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1569pvx",
        "longer than 90",
    ),
    ("pzry9x0s0muk", "no separator"),
    ("1pzry9x0s0muk", "empty human-readable part"),
    ("x1b4n0q5v", "invalid data character"),
    ("li1dgmt3", "checksum too short"),
    ("de1lg7wt\xff", "outside"),
    ("A1G7SGD8", "bad checksum"),  # checksum computed over the uppercase HRP
    ("10a06t8", "empty human-readable part"),
    ("1qzzfhee", "empty human-readable part"),
    ("A12uEL5L", "mixed case"),
]


@pytest.mark.parametrize("text", BIP173_VALID)
def test_bip173_valid_vectors(text: str) -> None:
    hrp, words = bech32.decode_words(text)
    assert bech32.encode_words(hrp, words) == text.lower()


@pytest.mark.parametrize(("text", "reason"), BIP173_INVALID)
def test_bip173_invalid_vectors(text: str, reason: str) -> None:
    with pytest.raises(bech32.Bech32Error, match=reason):
        bech32.decode_words(text)


def test_bip173_vector_words() -> None:
    hrp, words = bech32.decode_words("abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw")
    assert hrp == "abcdef"
    assert words == list(range(32))  # the data part spells the charset in order


@pytest.mark.parametrize("length", [0, 1, 5, 31, 32, 33, 64, 100])
def test_bytes_round_trip(length: int) -> None:
    data = os.urandom(length)
    text = bech32.encode("test", data)
    assert bech32.decode(text, max_length=None) == ("test", data)
    assert bech32.decode(text.upper(), max_length=None) == ("test", data)


def test_length_limit_is_optional() -> None:
    text = bech32.encode("age", os.urandom(80))
    assert len(text) > 90
    with pytest.raises(bech32.Bech32Error, match="longer than 90"):
        bech32.decode(text)
    assert len(bech32.decode(text, max_length=None)[1]) == 80


def test_non_zero_padding_rejected() -> None:
    # 2 words = 10 bits -> 1 byte + 2 padding bits that must be zero.
    assert bech32.convertbits([0b11111, 0b11100], 5, 8, pad=False) == [0xFF]
    with pytest.raises(bech32.Bech32Error, match="non-zero padding"):
        bech32.convertbits([0b11111, 0b11101], 5, 8, pad=False)


def test_single_character_error_detected() -> None:
    text = bech32.encode("age", bytes(range(32)))
    bad = text[:-1] + ("q" if text[-1] != "q" else "p")
    with pytest.raises(bech32.Bech32Error, match="bad checksum"):
        bech32.decode(bad)


# --- Ed25519 signing key -------------------------------------------------------------------------


def test_generate_and_load_signing_key(tmp_path: Path) -> None:
    path = tmp_path / "signing.key"
    public = keys.generate_signing_key(path)
    assert re.fullmatch(r"ed25519:[A-Za-z0-9+/]{43}=", public)
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----\n")  # PKCS#8, unencrypted
    key = keys.load_signing_key(path)
    assert keys.public_key_text(key) == public
    assert keys.public_key_text(key.public_key()) == public


def test_generated_key_has_0600_despite_umask(tmp_path: Path) -> None:
    old = os.umask(0o277)  # would strip the owner's write bit
    try:
        keys.generate_signing_key(tmp_path / "k")
    finally:
        os.umask(old)
    assert (tmp_path / "k").stat().st_mode & 0o777 == 0o600


def test_generate_refuses_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "signing.key"
    path.write_text("precious")
    with pytest.raises(FileExistsError, match="refusing to overwrite") as info:
        keys.generate_signing_key(path)
    assert info.value.filename == str(path)
    assert path.read_text() == "precious"


def test_generate_refuses_symlink(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    (tmp_path / "link").symlink_to(target)
    with pytest.raises(FileExistsError, match="refusing to overwrite"):
        keys.generate_signing_key(tmp_path / "link")
    assert not target.exists()


def test_signature_verifies_with_parsed_public_key(tmp_path: Path) -> None:
    public = keys.generate_signing_key(tmp_path / "k")
    signature = keys.load_signing_key(tmp_path / "k").sign(b"manifest")
    keys.parse_public_key_text(public).verify(signature, b"manifest")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("ssh-ed25519 AAAA", "must start with"),
        ("ed25519:not base64!", "not valid base64"),
        ("ed25519:AAAA", "3 bytes, expected 32"),
    ],
)
def test_parse_public_key_text_errors(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        keys.parse_public_key_text(text)


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_private_modes_accepted(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "k"
    keys.generate_signing_key(path)
    path.chmod(mode)
    keys.check_secret_file(path)
    keys.load_signing_key(path)


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        (0o640, "group/other-readable (mode 0640)"),
        (0o604, "group/other-readable (mode 0604)"),
        (0o644, "group/other-readable (mode 0644)"),
        (0o620, "group/other-accessible (mode 0620)"),
        (0o601, "group/other-accessible (mode 0601)"),
    ],
)
def test_lax_modes_refused(tmp_path: Path, mode: int, reason: str) -> None:
    path = tmp_path / "k"
    keys.generate_signing_key(path)
    path.chmod(mode)
    for check in (keys.check_secret_file, keys.load_signing_key):
        with pytest.raises(keys.KeyFileError) as info:
            check(path)
        assert info.value.reason == f"{reason}; run chmod 600 {path}"
        assert info.value.path == path
        assert str(info.value).startswith(f"{path}: ")


def test_missing_file_refused(tmp_path: Path) -> None:
    with pytest.raises(keys.KeyFileError, match="file not found"):
        keys.load_signing_key(tmp_path / "absent")


def test_directory_refused(tmp_path: Path) -> None:
    d = tmp_path / "dir"
    d.mkdir(mode=0o700)
    with pytest.raises(keys.KeyFileError, match="not a regular file"):
        keys.check_secret_file(d)


def test_fifo_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o600)
    with pytest.raises(keys.KeyFileError, match="not a regular file"):
        keys.load_signing_key(fifo)


def _write_secret(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    path.chmod(0o600)
    return path


def test_non_key_refused(tmp_path: Path) -> None:
    path = _write_secret(tmp_path / "k", b"hello\n")
    with pytest.raises(keys.KeyFileError, match="not a PEM private key"):
        keys.load_signing_key(path)


def test_other_algorithm_refused(tmp_path: Path) -> None:
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(keys.KeyFileError, match="not an Ed25519 key"):
        keys.load_signing_key(_write_secret(tmp_path / "k", pem))


def test_encrypted_key_refused(tmp_path: Path) -> None:
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    with pytest.raises(keys.KeyFileError, match="encrypted"):
        keys.load_signing_key(_write_secret(tmp_path / "k", pem))


# --- age X25519 ----------------------------------------------------------------------------------

needs_age = pytest.mark.skipif(
    shutil.which("age") is None or shutil.which("age-keygen") is None, reason="age CLI not installed"
)


def test_generate_age_identity_format(tmp_path: Path) -> None:
    path = tmp_path / "vault.key"
    recipient = keys.generate_age_identity(path)
    assert path.stat().st_mode & 0o777 == 0o600
    lines = path.read_text().split("\n")
    assert len(lines) == 4 and lines[3] == ""
    assert re.fullmatch(r"# created: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)", lines[0])
    assert lines[1] == f"# public key: {recipient}"
    assert re.fullmatch(r"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}", lines[2])
    assert re.fullmatch(r"age1[qpzry9x8gf2tvdw0s3jn54khce6mua7l]{58}", recipient)
    identity = keys.load_age_identity(path)
    assert keys.recipient_from_public_bytes(identity.public_key().public_bytes_raw()) == recipient
    assert keys.parse_age_recipient(recipient) == identity.public_key().public_bytes_raw()


def test_generate_age_identity_refuses_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "vault.key"
    keys.generate_age_identity(path)
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="refusing to overwrite"):
        keys.generate_age_identity(path)
    assert path.read_bytes() == before


def test_load_age_identity_checks_mode(tmp_path: Path) -> None:
    path = tmp_path / "vault.key"
    keys.generate_age_identity(path)
    path.chmod(0o644)
    with pytest.raises(keys.KeyFileError, match="group/other-readable"):
        keys.load_age_identity(path)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("# only a comment\n", "no AGE-SECRET-KEY-1"),
        ("age-secret-key-1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq\n", "uppercase"),
    ],
)
def test_load_age_identity_errors(tmp_path: Path, content: str, reason: str) -> None:
    path = _write_secret(tmp_path / "id", content.encode())
    with pytest.raises(keys.KeyFileError, match=reason):
        keys.load_age_identity(path)


def test_recipient_round_trip() -> None:
    public = X25519PrivateKey.generate().public_key().public_bytes_raw()
    recipient = keys.recipient_from_public_bytes(public)
    assert keys.parse_age_recipient(recipient) == public
    with pytest.raises(ValueError, match="31 bytes"):
        keys.recipient_from_public_bytes(public[:31])


def _flip_last(text: str) -> str:
    return text[:-1] + ("q" if text[-1] != "q" else "p")


GOOD_RECIPIENT = keys.recipient_from_public_bytes(bytes(range(32)))


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (_flip_last(GOOD_RECIPIENT), "bad checksum"),
        (bech32.encode("agf", bytes(32)), "wrong prefix 'agf1'"),
        (bech32.encode("age", bytes(31)), "wrong length: 31 bytes"),
        (bech32.encode("age", bytes(33)), "wrong length: 33 bytes"),
        (GOOD_RECIPIENT[:10] + GOOD_RECIPIENT[10:].upper(), "mixed case"),
        (GOOD_RECIPIENT.upper(), "uppercase"),
        (bech32.encode("age1yubikey", bytes(33)), "plugin recipient"),
        ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA", "SSH keys are not supported"),
        ("age1", "checksum too short"),
        ("", "no separator"),
    ],
)
def test_parse_age_recipient_errors(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)):
        keys.parse_age_recipient(text)


def _run(*args: str, stdin: bytes = b"") -> bytes:
    return subprocess.run(args, input=stdin, capture_output=True, check=True, timeout=30).stdout


@needs_age
def test_age_keygen_reads_our_identity(tmp_path: Path) -> None:
    path = tmp_path / "vault.key"
    recipient = keys.generate_age_identity(path)
    assert _run("age-keygen", "-y", str(path)).decode().strip() == recipient


@needs_age
def test_we_read_age_keygen_identity(tmp_path: Path) -> None:
    path = tmp_path / "vault.key"
    _run("age-keygen", "-o", str(path))
    path.chmod(0o600)  # age-keygen already uses 0600; make the test independent of that
    stated = re.search(r"^# public key: (age1\S+)$", path.read_text(), re.MULTILINE)
    assert stated is not None
    identity = keys.load_age_identity(path)
    recipient = keys.recipient_from_public_bytes(identity.public_key().public_bytes_raw())
    assert recipient == stated.group(1)
    assert recipient == _run("age-keygen", "-y", str(path)).decode().strip()
    assert keys.parse_age_recipient(stated.group(1)) == identity.public_key().public_bytes_raw()


@needs_age
def test_age_encrypts_to_our_recipient_and_decrypts_with_our_identity(tmp_path: Path) -> None:
    path = tmp_path / "vault.key"
    recipient = keys.generate_age_identity(path)
    plaintext = os.urandom(100_000)
    sealed = _run("age", "-r", recipient, stdin=plaintext)
    assert _run("age", "-d", "-i", str(path), stdin=sealed) == plaintext


@needs_age
def test_age_rejects_recipients_we_reject() -> None:
    # Our stricter-than-nothing rules must match age's: it rejects these too.
    for bad in (_flip_last(GOOD_RECIPIENT), GOOD_RECIPIENT.upper()):
        result = subprocess.run(["age", "-r", bad], input=b"x", capture_output=True, timeout=30)
        assert result.returncode != 0


def test_key_file_error_pickles(tmp_path: Path) -> None:
    err = keys.KeyFileError(tmp_path / "k", "file not found")
    copy_ = pickle.loads(pickle.dumps(err))
    assert str(copy_) == f"{tmp_path / 'k'}: file not found"
    assert (copy_.path, copy_.reason) == (err.path, err.reason)
