"""Streaming age v1 decryption (X25519 identities), in-process with ``cryptography``.

The vault decrypts in one pass whose memory does not depend on the file size: plaintext is
handed to a sink chunk by chunk (64 KiB) as soon as that chunk has authenticated. Parsing is
strict, as the specification (https://age-encryption.org/v1) and the C2SP/CCTV test vectors
require: canonical unpadded base64, 64-column stanza bodies ending in a short line, LF only,
the header MAC checked before any payload, the STREAM last-chunk flag enforced, nothing after
the final chunk.

Failures are classed as the test vectors class them, so a caller can tell a damaged header
from a file for someone else from a truncated payload:
:class:`AgeHeaderError`, :class:`AgeNoMatchError`, :class:`AgeHmacError`, :class:`AgePayloadError`.
Scrypt (passphrase) stanzas, armor and plugins are not supported: the vault holds X25519
identities only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

INTRO = b"age-encryption.org/v1"
X25519_LABEL = b"age-encryption.org/v1/X25519"
CHUNK = 64 * 1024
TAG = 16
ENC_CHUNK = CHUNK + TAG
READ_SIZE = 1 << 20
# A header is a few hundred bytes per recipient; the cap stops a hostile file from making the
# parser buffer without end.
MAX_HEADER = 1 << 20
_B64_LINE = re.compile(rb"[A-Za-z0-9+/]*")


class AgeError(Exception):
    """The file cannot be decrypted; the subclass says at which stage."""


class AgeHeaderError(AgeError):
    pass


class AgeNoMatchError(AgeError):
    pass


class AgeHmacError(AgeError):
    pass


class AgePayloadError(AgeError):
    pass


class Readable(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


def _hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


def _b64decode_canonical(text: bytes) -> bytes:
    """Unpadded standard base64 that re-encodes to exactly the same text."""
    if not _B64_LINE.fullmatch(text) or len(text) % 4 == 1:
        raise AgeHeaderError("invalid base64")
    try:
        raw = base64.b64decode(text + b"=" * (-len(text) % 4), validate=True)
    except binascii.Error:
        raise AgeHeaderError("invalid base64") from None
    if base64.b64encode(raw).rstrip(b"=") != text:
        raise AgeHeaderError("non-canonical base64")
    return raw


class _Source:
    """A read buffer over the file: lines for the header, then raw blocks for the payload."""

    def __init__(self, src: Readable) -> None:
        self._src = src
        self.buf = b""
        self.pos = 0
        self.base = 0  # the file offset of buf[0]
        self.eof = False

    def tell(self) -> int:
        return self.base + self.pos

    def fill(self, need: int) -> None:
        """Make at least ``need`` bytes available after ``pos`` unless the file ends first."""
        if len(self.buf) - self.pos >= need or self.eof:
            return
        parts = [self.buf[self.pos :]]
        self.base += self.pos
        have = len(parts[0])
        while have < need:
            more = self._src.read(max(READ_SIZE, need - have))
            if not more:
                self.eof = True
                break
            parts.append(more)
            have += len(more)
        self.buf, self.pos = b"".join(parts), 0

    def line(self) -> bytes:
        """The next header line without its LF; AgeHeaderError if there is none."""
        while True:
            end = self.buf.find(b"\n", self.pos)
            if end >= 0:
                out = self.buf[self.pos : end]
                self.pos = end + 1
                return out
            if self.eof or len(self.buf) - self.pos > MAX_HEADER:
                raise AgeHeaderError("header ends early or is too long")
            self.fill(len(self.buf) - self.pos + 1)


class Stanza:
    __slots__ = ("args", "body")

    def __init__(self, args: list[bytes], body: bytes) -> None:
        self.args, self.body = args, body


def _valid_arg(arg: bytes) -> bool:
    return bool(arg) and all(0x21 <= b <= 0x7E for b in arg)


def _parse_header(src: _Source) -> tuple[list[Stanza], bytes, bytes]:
    """Stanzas, the bytes the MAC covers, and the MAC."""
    start = src.pos
    if src.line() != INTRO:
        raise AgeHeaderError("not an age v1 file (or an unsupported version)")
    stanzas: list[Stanza] = []
    while True:
        line_start = src.pos
        line = src.line()
        if line.startswith(b"---"):
            if not line.startswith(b"--- "):
                raise AgeHeaderError("malformed header MAC line")
            mac = _b64decode_canonical(line[4:])
            if len(mac) != 32:
                raise AgeHeaderError("header MAC has the wrong length")
            covered = src.buf[start : line_start + 3]
            return stanzas, covered, mac
        if not line.startswith(b"-> "):
            raise AgeHeaderError("malformed stanza")
        args = line[3:].split(b" ")
        if not all(_valid_arg(a) for a in args):
            raise AgeHeaderError("malformed stanza arguments")
        body = b""
        while True:
            chunk = src.line()
            if len(chunk) > 64:
                raise AgeHeaderError("stanza body line longer than 64 columns")
            body += chunk
            if len(chunk) < 64:
                break
        stanzas.append(Stanza(args, _b64decode_canonical(body)))


def _unwrap(stanzas: Sequence[Stanza], identities: Sequence[X25519PrivateKey]) -> bytes:
    if any(s.args[0] == b"scrypt" for s in stanzas) and len(stanzas) != 1:
        raise AgeHeaderError("an scrypt stanza must be the only stanza")
    for ident in identities:
        ident_pub = ident.public_key().public_bytes_raw()
        for s in stanzas:
            if s.args[0] != b"X25519":
                continue  # other recipient types (and grease) are not ours
            if len(s.args) != 2:
                raise AgeHeaderError("X25519 stanza needs exactly one argument")
            share = _b64decode_canonical(s.args[1])
            if len(share) != 32:
                raise AgeHeaderError("X25519 share has the wrong length")
            if len(s.body) != 32:
                raise AgeHeaderError("X25519 stanza body has the wrong length")
            try:
                shared = ident.exchange(X25519PublicKey.from_public_bytes(share))
            except ValueError:
                raise AgeHeaderError("X25519 share is a low-order point") from None
            if shared == bytes(32):
                raise AgeHeaderError("X25519 share is a low-order point")
            wrap_key = _hkdf(shared, share + ident_pub, X25519_LABEL)
            try:
                return ChaCha20Poly1305(wrap_key).decrypt(bytes(12), s.body, None)
            except InvalidTag:
                continue
    raise AgeNoMatchError("no identity matches any recipient stanza")


@dataclass(frozen=True, slots=True, kw_only=True)
class Payload:
    """What an authenticated header gives: the STREAM payload key and where the payload starts."""

    key: bytes = field(repr=False)  # a secret: never in a log line or a traceback's repr
    start: int  # file offset of the first payload chunk (after the header and its 16-byte nonce)


def chunk_nonce(index: int, last: bool) -> bytes:
    """The STREAM nonce of chunk ``index``: an 11-byte big-endian counter and the last-chunk flag."""
    return index.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


def _open_header(source: _Source, identities: Sequence[X25519PrivateKey]) -> Payload:
    """Parse the header, find our stanza, check the header MAC and read the payload nonce;
    ``source`` is left at the first payload byte."""
    stanzas, covered, mac = _parse_header(source)
    file_key = _unwrap(stanzas, identities)
    if not hmac.compare_digest(hmac.new(_hkdf(file_key, b"", b"header"), covered, hashlib.sha256).digest(), mac):
        raise AgeHmacError("header MAC does not match")
    source.fill(16)
    nonce = source.buf[source.pos : source.pos + 16]
    if len(nonce) < 16:
        raise AgeHeaderError("payload nonce missing or short")
    source.pos += 16
    return Payload(key=_hkdf(file_key, nonce, b"payload"), start=source.tell())


def open_payload(src: Readable, identities: Sequence[X25519PrivateKey]) -> Payload:
    """Read and authenticate the header of the age file at the start of ``src`` (the same strict
    parsing as :func:`decrypt`); for random access into the payload. ``src`` is read ahead past
    the header, so seek to :attr:`Payload.start` before reading chunks."""
    source = _Source(src)
    source.fill(4096)
    return _open_header(source, identities)


def decrypt(src: Readable, identities: Sequence[X25519PrivateKey], sink: Callable[[bytes], object]) -> int:
    """Decrypt the age file read from ``src``, passing authenticated plaintext to ``sink``.

    Returns the plaintext size. Plaintext already passed to the sink before a payload failure
    was authentic, but the file as a whole is not: callers must discard it on error.
    """
    source = _Source(src)
    source.fill(READ_SIZE)
    aead = ChaCha20Poly1305(_open_header(source, identities).key)
    counter = 0
    total = 0
    while True:
        source.fill(ENC_CHUNK + 1)
        buf, pos = source.buf, source.pos
        n = min(len(buf) - pos, ENC_CHUNK)
        if n < TAG:
            raise AgePayloadError("payload truncated (chunk shorter than its tag, or no final chunk)")
        chunk = memoryview(buf)[pos : pos + n]
        source.pos += n
        last = n < ENC_CHUNK
        try:
            plain = aead.decrypt(chunk_nonce(counter, last), chunk, None)
        except InvalidTag:
            if last:
                raise AgePayloadError(f"chunk {counter} does not authenticate") from None
            # A full chunk may be the final one: it then carries the last-chunk flag.
            try:
                plain = aead.decrypt(chunk_nonce(counter, True), chunk, None)
            except InvalidTag:
                raise AgePayloadError(f"chunk {counter} does not authenticate") from None
            last = True
        if last and not plain and counter > 0:
            raise AgePayloadError("final chunk is empty but the payload is not")
        sink(plain)
        total += len(plain)
        counter += 1
        if last:
            source.fill(1)
            if len(source.buf) > source.pos:
                raise AgePayloadError("data after the final chunk")
            return total
        if counter >= 1 << 88:
            raise AgePayloadError("STREAM counter exhausted")
