"""Random access into an age file: decrypt only the STREAM chunks a byte range needs.

age encrypts the payload in 64 KiB chunks, each sealed with its index as nonce (and a flag on
the last), so plaintext offset ``p`` lives in chunk ``p // 64 KiB`` at a ciphertext offset that
follows from the header length alone. The header is parsed and its MAC checked once, by the
same strict parser the vault's one-pass decryption uses (``vault.agedecrypt``); every chunk
served is authenticated before a byte of it leaves, and the file's length must match the
catalogued plaintext size exactly, so a truncated or extended file is refused up front.
"""

from __future__ import annotations

import hmac
import io
from collections.abc import Iterator, Sequence
from hashlib import sha256
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from vault import agedecrypt
from vault.agedecrypt import CHUNK, ENC_CHUNK, TAG, AgeHeaderError, AgeHmacError, AgePayloadError

# The first piece of a response is one chunk (a quick first byte); later pieces are larger.
BATCH_CHUNKS = 16


class _Counting:
    def __init__(self, src: BinaryIO) -> None:
        self.src, self.n = src, 0

    def read(self, n: int = -1, /) -> bytes:
        data = self.src.read(n)
        self.n += len(data)
        return data


class AgeRange:
    """The payload key and layout of one age file whose plaintext is ``size`` bytes."""

    def __init__(self, src: BinaryIO, identities: Sequence[X25519PrivateKey], *, size: int, cipher_size: int) -> None:
        counting = _Counting(src)
        # agedecrypt's own header parser (shared on purpose: one strict reading of the format).
        source = agedecrypt._Source(counting)
        source.fill(4096)
        stanzas, covered, mac = agedecrypt._parse_header(source)
        file_key = agedecrypt._unwrap(stanzas, identities)
        header_key = agedecrypt._hkdf(file_key, b"", b"header")
        if not hmac.compare_digest(hmac.new(header_key, covered, sha256).digest(), mac):
            raise AgeHmacError("header MAC does not match")
        source.fill(16)
        nonce = source.buf[source.pos : source.pos + 16]
        if len(nonce) < 16:
            raise AgeHeaderError("payload nonce missing or short")
        self.payload_start = counting.n - (len(source.buf) - source.pos) + 16
        self.size = size
        self.chunks = max(1, -(-size // CHUNK))
        if cipher_size != self.payload_start + size + self.chunks * TAG:
            raise AgePayloadError("the encrypted file's length does not match the catalogued plaintext size")
        self._aead = ChaCha20Poly1305(agedecrypt._hkdf(file_key, nonce, b"payload"))

    def _open_chunk(self, index: int, sealed: bytes) -> bytes:
        last = index == self.chunks - 1
        want = (self.size - index * CHUNK if last else CHUNK) + TAG
        if len(sealed) != want:
            raise AgePayloadError(f"chunk {index} is cut short")
        nonce = index.to_bytes(11, "big") + (b"\x01" if last else b"\x00")
        try:
            return self._aead.decrypt(nonce, sealed, None)
        except InvalidTag:
            raise AgePayloadError(f"chunk {index} does not authenticate") from None

    def pieces(self, src: BinaryIO, start: int, end: int) -> Iterator[bytes]:
        """Plaintext bytes ``start..end`` (inclusive) from ``src``, the same file opened afresh."""
        if not 0 <= start <= end < self.size:
            raise ValueError("range outside the recording")
        first, last = start // CHUNK, end // CHUNK
        _seek(src, self.payload_start + first * ENC_CHUNK)
        index = first
        batch = 1
        while index <= last:
            n = min(batch, last - index + 1)
            sealed = src.read(n * ENC_CHUNK if index + n - 1 < self.chunks - 1 else
                              (n - 1) * ENC_CHUNK + (self.size - (self.chunks - 1) * CHUNK) + TAG)
            out = []
            for k in range(n):
                plain = self._open_chunk(index + k, sealed[k * ENC_CHUNK : (k + 1) * ENC_CHUNK])
                lo = start - (index + k) * CHUNK if index + k == first else 0
                hi = end - (index + k) * CHUNK + 1 if index + k == last else len(plain)
                out.append(plain[lo:hi])
            index += n
            batch = BATCH_CHUNKS
            yield b"".join(out)


def _seek(src: BinaryIO, offset: int) -> None:
    try:
        src.seek(offset)
        return
    except (AttributeError, OSError, io.UnsupportedOperation):
        pass
    # A stream that cannot seek (an object store's body) is read up to the offset.
    left = offset
    while left > 0:
        got = src.read(min(left, 1 << 20))
        if not got:
            raise AgePayloadError("the encrypted file ends before the requested range")
        left -= len(got)
