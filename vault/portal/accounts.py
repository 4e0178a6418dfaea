"""Portal accounts: one file per user in ``portal.accounts_dir`` (folder 0700, files 0600).

A file holds the scrypt hash of the password, the TOTP secret, the last TOTP step used (a code
is accepted once), and the count of failed logins with the lock that follows too many. Nothing
here is ever logged, and a file anyone but the owner can read is refused. Who a user is and
what their roles allow stays in the vault config; an account only proves that it is them.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vault.portal import totp

SCRYPT_N, SCRYPT_R, SCRYPT_P = 1 << 14, 8, 1
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MIN_PASSWORD = 12


class AccountError(Exception):
    """An account file is missing, malformed or readable by others; the message says which."""


class Login(enum.Enum):
    OK = "ok"
    REFUSED = "refused"  # wrong name, password or code (deliberately not said which)
    LOCKED = "locked"


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountStatus:
    name: str
    has_password: bool
    has_totp: bool
    failures: int
    locked_until: float | None


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def check_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        want = base64.b64decode(digest)
        got = hashlib.scrypt(password.encode("utf-8"), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(want))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)


# The cost of a check against an account that does not exist equals one that does.
_DUMMY = hash_password(secrets.token_hex(16))


class Accounts:
    def __init__(self, folder: Path, *, max_failures: int = 5, lockout_s: float = 900.0) -> None:
        self.folder = folder
        self.max_failures = max_failures
        self.lockout_s = lockout_s
        self._lock = threading.Lock()

    def path(self, name: str) -> Path:
        if not _NAME.fullmatch(name):
            raise AccountError(f"not a valid user name: {name!r}")
        return self.folder / f"{name}.account.json"

    def _read(self, name: str) -> dict[str, Any] | None:
        path = self.path(name)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise AccountError(f"{path}: {exc.strerror}") from None
        with os.fdopen(fd, "rb") as fh:
            mode = os.fstat(fh.fileno()).st_mode & 0o777
            if mode & 0o077:
                raise AccountError(f"{path}: mode {mode:o}; an account file must be 0600")
            try:
                data: dict[str, Any] = json.loads(fh.read())
            except ValueError:
                raise AccountError(f"{path}: not valid JSON") from None
        return data

    def _write(self, name: str, data: dict[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.folder, 0o700)
        path = self.path(name)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(json.dumps(data, sort_keys=True).encode())
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        dfd = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    # --- administration (the CLI) -------------------------------------------------------
    def exists(self, name: str) -> bool:
        return self._read(name) is not None

    def create(self, name: str, password: str) -> None:
        _check_strength(password)
        with self._lock:
            if self._read(name) is not None:
                raise AccountError(f"user {name} already has a portal account")
            self._write(name, {"user": name, "password": hash_password(password), "totp_secret": None,
                               "totp_last_step": 0, "failures": 0, "locked_until": None})

    def set_password(self, name: str, password: str) -> None:
        _check_strength(password)
        with self._lock:
            data = self._require(name)
            data.update(password=hash_password(password), failures=0, locked_until=None)
            self._write(name, data)

    def enroll_totp(self, name: str) -> str:
        """A new TOTP secret for ``name`` (replacing any earlier one); returned once, for the URI."""
        with self._lock:
            data = self._require(name)
            secret = totp.new_secret()
            data.update(totp_secret=secret, totp_last_step=0)
            self._write(name, data)
        return secret

    def unlock(self, name: str) -> None:
        with self._lock:
            data = self._require(name)
            data.update(failures=0, locked_until=None)
            self._write(name, data)

    def status(self, name: str) -> AccountStatus | None:
        data = self._read(name)
        if data is None:
            return None
        locked = data.get("locked_until")
        return AccountStatus(name=name, has_password=bool(data.get("password")), has_totp=bool(data.get("totp_secret")),
                             failures=int(data.get("failures", 0)),
                             locked_until=float(locked) if locked and float(locked) > time.time() else None)

    def _require(self, name: str) -> dict[str, Any]:
        data = self._read(name)
        if data is None:
            raise AccountError(f"user {name} has no portal account (bodydock-vault portal user add {name})")
        return data

    # --- logging in ------------------------------------------------------------------------
    def login(self, name: str, password: str, code: str, *, now: float | None = None) -> Login:
        """Password and TOTP code together; too many failures in a row lock the account."""
        now = time.time() if now is None else now
        with self._lock:
            try:
                data = self._read(name)
            except AccountError:
                data = None
            if data is None:
                check_password(password, _DUMMY)
                return Login.REFUSED
            locked = data.get("locked_until")
            if locked and float(locked) > now:
                return Login.LOCKED
            ok = check_password(password, str(data.get("password") or ""))
            secret = data.get("totp_secret")
            step = totp.match(str(secret), code, now=now) if secret else None
            # A code is good once: a step at or before the last one used is a replay.
            if ok and step is not None and step > int(data.get("totp_last_step", 0)):
                data.update(failures=0, locked_until=None, totp_last_step=step)
                self._write(name, data)
                return Login.OK
            failures = int(data.get("failures", 0)) + 1
            if failures >= self.max_failures:
                data.update(failures=0, locked_until=now + self.lockout_s)
            else:
                data.update(failures=failures, locked_until=None)
            self._write(name, data)
            return Login.REFUSED


def _check_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"a password needs at least {MIN_PASSWORD} characters")
