"""Random access into an age file: decrypt only the STREAM chunks a byte range needs.

age encrypts the payload in 64 KiB chunks, each sealed with its index as nonce (and a flag on
the last), so plaintext offset ``p`` lives in chunk ``p // 64 KiB`` at a ciphertext offset that
follows from the header length alone. The header is parsed and its MAC checked once, by the
vault's own strict parser (``vault.agedecrypt.open_payload``); every chunk served is
authenticated before a byte of it leaves, and the file's length must match the catalogued
plaintext size exactly, so a truncated or extended file is refused up front.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from vault.agedecrypt import CHUNK, ENC_CHUNK, TAG, AgePayloadError, Readable, chunk_nonce, open_payload

# The first piece of a response is one chunk (a quick first byte); later pieces are larger.
BATCH_CHUNKS = 16


class AgeRange:
    """The payload key and layout of one age file whose plaintext is ``size`` bytes."""

    def __init__(self, src: Readable, identities: Sequence[X25519PrivateKey], *, size: int, cipher_size: int) -> None:
        payload = open_payload(src, identities)
        self.payload_start = payload.start
        self.size = size
        self.chunks = max(1, -(-size // CHUNK))
        if cipher_size != self.payload_start + size + self.chunks * TAG:
            raise AgePayloadError("the encrypted file's length does not match the catalogued plaintext size")
        self._aead = ChaCha20Poly1305(payload.key)

    def _sealed_size(self, first: int, n: int) -> int:
        """Bytes of ciphertext chunks ``first .. first+n-1`` (the last chunk is shorter)."""
        if first + n < self.chunks:
            return n * ENC_CHUNK
        return (n - 1) * ENC_CHUNK + (self.size - (self.chunks - 1) * CHUNK) + TAG

    def pieces(self, src: Readable, start: int, end: int) -> Iterator[bytes]:
        """Plaintext bytes ``start..end`` (inclusive) from ``src``, the same file opened afresh."""
        if not 0 <= start <= end < self.size:
            raise ValueError("range outside the recording")
        first, last = start // CHUNK, end // CHUNK
        _seek(src, self.payload_start + first * ENC_CHUNK)
        # One sealed buffer for the whole response, read into and decrypted from in place.
        sealed = bytearray(min(BATCH_CHUNKS, last - first + 1) * ENC_CHUNK)
        view = memoryview(sealed)
        index, batch = first, 1
        while index <= last:
            n = min(batch, last - index + 1)
            want = self._sealed_size(index, n)
            got = _read_into(src, view[:want])
            if got != want:
                raise AgePayloadError(f"chunk {index + got // ENC_CHUNK} is cut short")
            out = []
            for k in range(n):
                i = index + k
                try:
                    plain = self._aead.decrypt(chunk_nonce(i, i == self.chunks - 1),
                                               view[k * ENC_CHUNK : min((k + 1) * ENC_CHUNK, want)], None)
                except InvalidTag:
                    raise AgePayloadError(f"chunk {i} does not authenticate") from None
                lo = start - i * CHUNK if i == first else 0
                hi = end - i * CHUNK + 1 if i == last else len(plain)
                out.append(plain[lo:hi] if lo or hi != len(plain) else plain)
            index += n
            batch = BATCH_CHUNKS
            yield out[0] if len(out) == 1 else b"".join(out)


def _read_into(src: Readable, view: memoryview) -> int:
    """Fill ``view`` from ``src`` (short only at the end of the file); how many bytes came."""
    got = 0
    readinto = getattr(src, "readinto", None)
    while got < len(view):
        if readinto is not None:
            n = readinto(view[got:])
        else:  # a store's stream without readinto
            data = src.read(len(view) - got)
            n = len(data)
            view[got : got + n] = data
        if not n:
            break
        got += n
    return got


def _seek(src: Readable, offset: int) -> None:
    try:
        src.seek(offset)  # type: ignore[attr-defined]
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
