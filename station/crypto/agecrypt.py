"""Streaming encryption to the age v1 format (https://age-encryption.org/v1), X25519 recipients.

Written in-process with ``cryptography`` so one read pass can hash, encrypt and write. The
station only ever holds recipients (public keys): what it writes, it cannot read back. The
stock ``age`` CLI decrypts the output with the vault's identity (tested).

Format, as the specification defines it:
  header  = "age-encryption.org/v1\\n" + one stanza per recipient + "--- " + b64(HMAC) + "\\n"
  stanza  = "-> X25519 " + b64(ephemeral share) + "\\n" + b64(wrapped file key) + "\\n"
  payload = 16-byte nonce + STREAM(ChaCha20-Poly1305, 64 KiB chunks, 11-byte counter + last flag)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Callable, Sequence

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from station.crypto.keys import parse_age_recipient

INTRO = b"age-encryption.org/v1\n"
CHUNK = 64 * 1024
TAG = 16
X25519_LABEL = b"age-encryption.org/v1/X25519"


def _b64(data: bytes) -> bytes:
    return base64.b64encode(data).rstrip(b"=")


def _hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


def _wrap_lines(b64: bytes) -> bytes:
    # Bodies are wrapped at 64 columns; the final line is always shorter than 64 (maybe empty).
    lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
    if not lines or len(lines[-1]) == 64:
        lines.append(b"")
    return b"\n".join(lines) + b"\n"


def _x25519_stanza(file_key: bytes, recipient: bytes) -> bytes:
    ephemeral = X25519PrivateKey.generate()
    share = ephemeral.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient))
    if shared == bytes(32):
        raise ValueError("recipient is a low-order point")
    wrap_key = _hkdf(shared, share + recipient, X25519_LABEL)
    body = ChaCha20Poly1305(wrap_key).encrypt(bytes(12), file_key, None)
    return b"-> X25519 " + _b64(share) + b"\n" + _wrap_lines(_b64(body))


def build_header(file_key: bytes, recipients: Sequence[bytes]) -> bytes:
    if not recipients:
        raise ValueError("at least one recipient is required")
    head = INTRO + b"".join(_x25519_stanza(file_key, r) for r in recipients) + b"---"
    mac = hmac.new(_hkdf(file_key, b"", b"header"), head, hashlib.sha256).digest()
    return head + b" " + _b64(mac) + b"\n"


class AgeEncryptor:
    """Incremental encryptor: feed plaintext with ``update``, end with ``finish``.

    Output goes to ``sink`` as it is produced; the sink must consume each buffer before it
    returns (hash it, write it), because the buffer is reused for the next chunk. One chunk of
    plaintext is held back because the last STREAM chunk carries a flag, and only ``finish``
    knows which chunk is last.
    Memory use is bounded by the caller's write size plus one 64 KiB chunk.
    """

    def __init__(self, recipients: Sequence[str], sink: Callable[[memoryview], object]) -> None:
        keys = [parse_age_recipient(r) for r in recipients]
        self._sink = sink
        file_key = os.urandom(16)
        nonce = os.urandom(16)
        self._aead = ChaCha20Poly1305(_hkdf(file_key, nonce, b"payload"))
        self._counter = 0
        self._pending = bytearray()
        self._out = bytearray(CHUNK + TAG)
        sink(memoryview(build_header(file_key, keys) + nonce))

    def _seal(self, chunk: memoryview | bytes | bytearray, last: bool) -> None:
        if self._counter >= 1 << 88:
            raise OverflowError("age STREAM counter exhausted")
        nonce = self._counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")
        self._counter += 1
        n = len(chunk) + TAG
        out = self._out if n == len(self._out) else bytearray(n)
        self._aead.encrypt_into(nonce, chunk, None, out)
        self._sink(memoryview(out)[:n])

    def update(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        if self._pending:
            need = CHUNK - len(self._pending)
            self._pending += view[:need]
            view = view[need:]
            if not view:
                return  # keep a full pending chunk: it may be the last one
            self._seal(self._pending, last=False)
            self._pending = bytearray()
        # Seal whole chunks straight from the caller's buffer, keeping the final one back.
        while len(view) > CHUNK:
            self._seal(view[:CHUNK], last=False)
            view = view[CHUNK:]
        self._pending += view

    def finish(self) -> None:
        self._seal(self._pending, last=True)
        self._pending = bytearray()


def encrypted_size(plain_size: int, header_size: int) -> int:
    chunks = max(1, -(-plain_size // CHUNK))
    return header_size + 16 + plain_size + chunks * TAG
