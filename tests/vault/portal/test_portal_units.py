"""The portal's parts on their own: TOTP against RFC 6238's test vectors, the account file
(scrypt hash, 0600, lockout, a code used once), range decryption against the whole-file
decryption, the message catalog complete in both languages."""

from __future__ import annotations

import base64
import io
import json
import os
import random
import re
import string
import time
from pathlib import Path

import pytest

from station.crypto.agecrypt import AgeEncryptor
from station.crypto.keys import generate_age_identity
from vault import access, agedecrypt, transfer, withdraw
from vault.config import ACTIONS, PURPOSES
from vault.intake import load_identities
from vault.portal import app, i18n, totp
from vault.portal.accounts import AccountError, Accounts, Login, check_password, hash_password
from vault.portal.agerange import AgeRange

RFC6238_SECRET = base64.b32encode(b"12345678901234567890").decode()


@pytest.mark.parametrize(("t", "code"), [(59, "287082"), (1111111109, "081804"), (1111111111, "050471"),
                                         (1234567890, "005924"), (2000000000, "279037")])
def test_totp_matches_the_rfc_6238_vectors(t: int, code: str) -> None:
    # Appendix B gives 8 digits (94287082, ...); the 6-digit code is their last six.
    assert totp.code_at(RFC6238_SECRET, t // 30) == code
    assert totp.match(RFC6238_SECRET, code, now=t) == t // 30
    assert totp.match(RFC6238_SECRET, code, now=t + 90) is None


def test_account_file_hash_lockout_and_single_use_codes(tmp_path: Path) -> None:
    accounts = Accounts(tmp_path / "acc", max_failures=2, lockout_s=60)
    with pytest.raises(AccountError, match="12 characters"):
        accounts.create("k.bos", "short")
    accounts.create("k.bos", "a long enough password")
    secret = accounts.enroll_totp("k.bos")
    path = accounts.path("k.bos")
    assert path.stat().st_mode & 0o777 == 0o600 and (tmp_path / "acc").stat().st_mode & 0o777 == 0o700
    text = path.read_text()
    assert "a long enough password" not in text and json.loads(text)["password"].startswith("scrypt$")
    now = time.time()
    code = totp.code_at(secret, totp.current_step(now))
    assert accounts.login("k.bos", "a long enough password", code, now=now) is Login.OK
    assert accounts.login("k.bos", "a long enough password", code, now=now) is Login.REFUSED  # replay
    assert accounts.login("k.bos", "wrong", code, now=now) is Login.REFUSED  # the 2nd failure in a row: locks
    status = accounts.status("k.bos")
    assert status is not None and status.locked_until == pytest.approx(now + 60)
    nxt = totp.code_at(secret, totp.current_step(now) + 1)
    assert accounts.login("k.bos", "a long enough password", nxt, now=now) is Login.LOCKED
    assert accounts.login("k.bos", "a long enough password", nxt, now=now + 61) is Login.OK
    os.chmod(path, 0o644)
    with pytest.raises(AccountError, match="0600"):
        accounts.status("k.bos")
    assert accounts.login("k.bos", "a long enough password", nxt, now=now + 62) is Login.REFUSED
    assert check_password("x", hash_password("x")) and not check_password("y", hash_password("x"))


@pytest.mark.parametrize("size", [1, 65535, 65536, 65537, 3 * 65536, 200_001])
def test_ranges_decrypt_exactly_what_the_whole_file_decrypts(tmp_path: Path, size: int) -> None:
    recipient = generate_age_identity(tmp_path / "id.txt")
    ids = load_identities(tmp_path / "id.txt")
    plain = random.Random(size).randbytes(size)
    out: list[bytes] = []
    enc = AgeEncryptor([recipient], lambda b: out.append(bytes(b)))
    enc.update(plain)
    enc.finish()
    cipher = b"".join(out)
    whole: list[bytes] = []
    agedecrypt.decrypt(io.BytesIO(cipher), ids, whole.append)
    assert b"".join(whole) == plain
    reader = AgeRange(io.BytesIO(cipher), ids, size=size, cipher_size=len(cipher))
    rng = random.Random(1)
    for _ in range(25):
        a = rng.randrange(size)
        b = rng.randrange(a, size)
        assert b"".join(reader.pieces(io.BytesIO(cipher), a, b)) == plain[a : b + 1]
    # An object store's body: read() only, no seek or readinto.
    a = rng.randrange(size)
    assert b"".join(reader.pieces(_ReadOnly(cipher), a, size - 1)) == plain[a:]
    with pytest.raises(ValueError):
        next(reader.pieces(io.BytesIO(cipher), 0, size))
    # A file one byte longer or shorter than the catalog says is refused before any range.
    with pytest.raises(agedecrypt.AgePayloadError):
        AgeRange(io.BytesIO(cipher), ids, size=size + 1, cipher_size=len(cipher))
    # A flipped byte in a chunk is caught when that chunk is served.
    bad = bytearray(cipher)
    bad[-5] ^= 1
    with pytest.raises(agedecrypt.AgePayloadError):
        b"".join(reader.pieces(io.BytesIO(bytes(bad)), size - 1, size - 1))


class _ReadOnly:
    def __init__(self, data: bytes) -> None:
        self._f = io.BytesIO(data)

    def read(self, n: int = -1, /) -> bytes:
        return self._f.read(min(n, 1000) if n >= 0 else 1000)  # short reads, as a network body gives


def test_every_message_has_dutch_and_english() -> None:
    for key, (nl, en) in i18n.MESSAGES.items():
        assert nl.strip() and en.strip(), key
        assert sorted(_fields(nl)) == sorted(_fields(en)), key
    t = i18n.translator("nl")
    assert t("login.title") == "Inloggen" and i18n.translator("en")("login.title") == "Log in"
    templates = Path(i18n.__file__).with_name("templates")
    literal = re.compile(r'(?<![\w.])t\("([a-z_.]*[a-z_])"[,)]')
    used = {m for f in templates.glob("*.html") for m in literal.findall(f.read_text())}
    assert used and used <= set(i18n.MESSAGES), sorted(used - set(i18n.MESSAGES))


def test_every_refusal_of_the_rules_is_in_dutch_and_english() -> None:
    source = "".join(Path(m.__file__).read_text() for m in (access, app, withdraw, transfer))
    codes = set(re.findall(r'code="([a-z_]+)"', source))
    assert {"learning_only", "appraisal", "action_not_allowed", "not_visible"} <= codes
    assert not sorted(c for c in codes if f"refusal.{c}" not in i18n.MESSAGES)
    assert all(f"purpose.{p}" in i18n.MESSAGES for p in PURPOSES) and all(f"action.{a}" in i18n.MESSAGES
                                                                          for a in ACTIONS)
    nl, en = i18n.translator("nl"), i18n.translator("en")
    exc = access.Refused("english", code="purpose_not_allowed", user="k.bos", roles="", purpose="om_request")
    assert i18n.refusal(nl, exc.code, exc.params, str(exc)) == \
        "Geen van de rollen van k.bos (geen) staat het doel verzoek van het OM toe."
    exc = access.Refused("english", code="action_not_allowed", user="k.bos", roles="coach", action="audit")
    assert i18n.refusal(en, exc.code, exc.params, str(exc)) == \
        "None of k.bos's roles (coach) may read the access log and the retention."
    # Another module's refusal without a code keeps its English message rather than showing nothing.
    assert i18n.refusal(nl, "other", {}, "a consent reference is required") == "a consent reference is required"


def test_dates_are_written_dd_mm_jjjj_in_dutch() -> None:
    assert i18n.when("2026-11-28T23:14:40.123Z", "nl") == "28-11-2026 23:14:40"
    assert i18n.when("2026-11-28T23:14:40.123Z", "en") == "2026-11-28 23:14:40"
    assert i18n.day("2026-12-26T00:00:00Z", "nl") == "26-12-2026" and i18n.day(None, "nl") == "-"
    assert i18n.when(None, "nl") == "-" and i18n.when("later", "nl") == "later"


def _fields(text: str) -> list[str]:
    return [f for _, f, _, _ in string.Formatter().parse(text) if f]
