"""Station key material: the Ed25519 signing key and age X25519 recipients.

The station signs what it produces (manifests, audit records) with its own Ed25519 key, and
encrypts footage for the vault to one or more age X25519 *recipients* (public keys). It never
holds a vault *identity* (private key): footage encrypted at the dock cannot be read at the dock.

Secret files are created with mode 0600 in one step (O_CREAT|O_EXCL), never overwritten, and
refused on load if group or other has any access: a leaked signing key lets anyone forge
evidence records, so a lax mode is an error rather than a warning.
"""

from __future__ import annotations

import base64
import binascii
import errno
import os
import stat
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from station.crypto import bech32

PUBLIC_KEY_PREFIX = "ed25519:"
AGE_RECIPIENT_HRP = "age"
AGE_IDENTITY_HRP = "AGE-SECRET-KEY-"
# Key files are tiny; the cap only stops a misconfigured path from reading something huge.
_MAX_SECRET_FILE_BYTES = 64 * 1024


class KeyFileError(Exception):
    """A key file is missing, unsafe or unreadable. ``reason`` is meant for the operator."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(path, reason)  # both in args, so the error survives pickling
        self.path = path
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


# --- secret files -------------------------------------------------------------------------


def _mode_problem(path: Path, mode: int) -> str | None:
    if not mode & 0o077:
        return None
    what = "group/other-readable" if mode & 0o044 else "group/other-accessible"
    return f"{what} (mode {mode:04o}); run chmod 600 {path}"


def _open_secret(path: Path) -> int:
    """Open ``path`` for reading after checking it is a private regular file.

    Checks run on the open descriptor (fstat), so the file cannot be swapped between check and
    read. O_NONBLOCK keeps a FIFO at the path from hanging the open.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOCTTY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise KeyFileError(path, "file not found") from None
    except PermissionError:
        raise KeyFileError(path, "permission denied (cannot be read by this user)") from None
    except OSError as exc:
        raise KeyFileError(path, f"cannot open: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise KeyFileError(path, "not a regular file")
        problem = _mode_problem(path, stat.S_IMODE(st.st_mode))
        if problem:
            raise KeyFileError(path, problem)
    except BaseException:
        os.close(fd)
        raise
    return fd


def check_secret_file(path: Path) -> None:
    """Raise :class:`KeyFileError` unless ``path`` is an existing regular file with no
    group/other permission bits. Used for every secret file the config names."""
    os.close(_open_secret(path))


def read_secret_file(path: Path) -> bytes:
    """The bytes of a secret file (e.g. the status page password), after the same checks as
    :func:`check_secret_file`, made on the open file."""
    return _read_secret_file(path)


def _read_secret_file(path: Path) -> bytes:
    fd = _open_secret(path)
    try:
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(_MAX_SECRET_FILE_BYTES + 1)
    except OSError as exc:
        raise KeyFileError(path, f"cannot read: {exc.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > _MAX_SECRET_FILE_BYTES:
        raise KeyFileError(path, "too large to be a key file")
    return data


def _create_secret_file(path: Path, data: bytes) -> None:
    """Create ``path`` with mode 0600 and ``data``; FileExistsError if anything exists there.

    O_EXCL makes creation and the existence check one step (and does not follow a planted
    symlink). On a failed write the partial file is removed so a retry can succeed. Other
    OSErrors (missing directory, read-only disk) propagate unchanged.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        raise FileExistsError(errno.EEXIST, "refusing to overwrite an existing key file", str(path)) from None
    try:
        os.fchmod(fd, 0o600)  # the umask may have removed owner bits; never add others
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise
    os.close(fd)
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    # Make the new directory entry durable: a key that vanishes after a power cut would
    # leave published public keys without their private half.
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --- Ed25519 signing key -------------------------------------------------------------------


def public_key_text(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The public key as ``ed25519:<base64 of the raw 32 bytes>``."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return PUBLIC_KEY_PREFIX + base64.b64encode(public.public_bytes_raw()).decode("ascii")


def parse_public_key_text(text: str) -> Ed25519PublicKey:
    """Inverse of :func:`public_key_text`; ValueError with the reason on bad input."""
    if not text.startswith(PUBLIC_KEY_PREFIX):
        raise ValueError(f"public key must start with {PUBLIC_KEY_PREFIX!r}")
    try:
        raw = base64.b64decode(text[len(PUBLIC_KEY_PREFIX) :], validate=True)
    except binascii.Error:
        raise ValueError("public key is not valid base64") from None
    if len(raw) != 32:
        raise ValueError(f"public key is {len(raw)} bytes, expected 32")
    return Ed25519PublicKey.from_public_bytes(raw)


def generate_signing_key(path: Path) -> str:
    """Write a new Ed25519 key (unencrypted PKCS#8 PEM, mode 0600) to a new file at ``path``.

    Raises FileExistsError rather than overwrite. Returns the public key text
    (``ed25519:...``) to publish.
    """
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),  # unattended appliance: protection is the file mode
    )
    _create_secret_file(path, pem)
    return public_key_text(key)


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    """Load the station's Ed25519 key; :class:`KeyFileError` if missing, unsafe or not Ed25519."""
    data = _read_secret_file(path)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise KeyFileError(path, "key is encrypted; the station needs an unencrypted key") from None
    except (ValueError, UnsupportedAlgorithm):
        raise KeyFileError(path, "not a PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(path, f"not an Ed25519 key ({type(key).__name__.removesuffix('PrivateKey')})")
    return key


# --- age X25519 ------------------------------------------------------------------------------


def recipient_from_public_bytes(public: bytes) -> str:
    """The ``age1...`` recipient string for a raw 32-byte X25519 public key."""
    if len(public) != 32:
        raise ValueError(f"X25519 public key is {len(public)} bytes, expected 32")
    return bech32.encode(AGE_RECIPIENT_HRP, public)


def parse_age_recipient(text: str) -> bytes:
    """Parse an age X25519 recipient (``age1...``) to its raw 32-byte public key.

    Rules follow age itself, so a recipient accepted here is accepted by age: lowercase only,
    valid bech32 checksum, prefix ``age``, 32 bytes. ValueError says which rule failed.
    """
    if text.startswith(("ssh-", "ecdsa-")):
        raise ValueError("SSH keys are not supported as recipients; use an age X25519 key (age1...)")
    if text != text.lower():
        what = "mixed case" if text != text.upper() else "uppercase"
        raise ValueError(f"{what}; age recipients must be lowercase")
    try:
        hrp, data = bech32.decode(text, max_length=None)
    except bech32.Bech32Error as exc:
        raise ValueError(f"not a valid age recipient: {exc}") from None
    if hrp != AGE_RECIPIENT_HRP:
        if hrp.startswith(AGE_RECIPIENT_HRP + "1"):
            raise ValueError(f"plugin recipient ({hrp}1...) not supported; need an age X25519 key")
        raise ValueError(f"wrong prefix {hrp + '1'!r}; age recipients start with 'age1'")
    if len(data) != 32:
        raise ValueError(f"wrong length: {len(data)} bytes, an X25519 key has 32")
    return data


def _identity_text(key: X25519PrivateKey) -> str:
    # age writes identities uppercase and only accepts them that way.
    return bech32.encode(AGE_IDENTITY_HRP, key.private_bytes_raw()).upper()


def _rfc3339_now() -> str:
    # Same shape as Go's time.RFC3339 used by age-keygen: local time, "Z" for UTC.
    text = datetime.now().astimezone().replace(microsecond=0).isoformat()
    return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text


def generate_age_identity(path: Path) -> str:
    """Write a new age identity file in ``age-keygen`` format (mode 0600; FileExistsError
    rather than overwrite) and return its recipient (``age1...``).

    For provisioning a vault key on an operator machine, and for tests and demos; the station
    needs only the recipient.
    """
    key = X25519PrivateKey.generate()
    recipient = recipient_from_public_bytes(key.public_key().public_bytes_raw())
    text = f"# created: {_rfc3339_now()}\n# public key: {recipient}\n{_identity_text(key)}\n"
    _create_secret_file(path, text.encode("ascii"))
    return recipient


def parse_age_identity(text: str) -> X25519PrivateKey:
    """Parse one ``AGE-SECRET-KEY-1...`` string (uppercase, as age requires)."""
    if text != text.upper():
        raise ValueError("age identities must be uppercase")
    try:
        hrp, data = bech32.decode(text, max_length=None)
    except bech32.Bech32Error as exc:
        raise ValueError(f"not a valid age identity: {exc}") from None
    if hrp != AGE_IDENTITY_HRP.lower():
        raise ValueError(f"wrong prefix {hrp.upper() + '1'!r}; expected 'AGE-SECRET-KEY-1'")
    if len(data) != 32:
        raise ValueError(f"wrong length: {len(data)} bytes, an X25519 key has 32")
    return X25519PrivateKey.from_private_bytes(data)


def load_age_identity(path: Path) -> X25519PrivateKey:
    """Load the first X25519 identity from an age identity file (``age-keygen`` format).

    Only for tests and demo verification (decrypting what the station produced). The station
    itself never holds a vault identity; nothing in the running station may call this.
    """
    data = _read_secret_file(path)
    try:
        lines = data.decode("ascii").splitlines()
    except UnicodeDecodeError:
        raise KeyFileError(path, "not an age identity file (non-ASCII content)") from None
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            return parse_age_identity(line)
        except ValueError as exc:
            raise KeyFileError(path, str(exc)) from None
    raise KeyFileError(path, "no AGE-SECRET-KEY-1... line found")
