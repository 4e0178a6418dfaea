"""Per-recording manifests: canonical JSON signed with the station's Ed25519 key.

The manifest travels with the footage to the vault; the signature lets the municipality prove
which dock produced which bytes (chain of custody for a transfer to police or OM).

Format versions: 2 (current) signs the RFC 8785 canonical form of the body, so any party can
verify it with a stock JCS library; 1 signed Python's sorted ``json.dumps`` form and is still
accepted, because manifests already in vaults must keep verifying.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from station.crypto.canonical import canonical_json, canonical_json_v1
from station.crypto.keys import parse_public_key_text, public_key_text

MANIFEST_VERSION = 2
# How each format version canonicalises the signed body.
_CANONICAL: dict[int, Callable[[Any], bytes]] = {1: canonical_json_v1, 2: canonical_json}


class ManifestError(Exception):
    pass


def key_fingerprint(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """A short, read-aloud form of a public key: the first 128 bits of the SHA-256 of its raw
    32 bytes in groups of four hex digits. The dock prints it; the vault compares it when a
    station is registered."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    digest = hashlib.sha256(public.public_bytes_raw()).hexdigest()[:32]
    return " ".join(digest[i : i + 4] for i in range(0, 32, 4))


def sign_manifest(manifest: dict[str, Any], key: Ed25519PrivateKey) -> bytes:
    body = {**manifest, "version": MANIFEST_VERSION}
    sig = key.sign(canonical_json(body))
    doc = {
        "manifest": body,
        "signature": {
            "alg": "ed25519",
            "key": public_key_text(key.public_key()),
            "value": base64.b64encode(sig).decode("ascii"),
        },
    }
    return canonical_json(doc) + b"\n"


def open_manifest(data: bytes, trusted: Ed25519PublicKey | None = None) -> dict[str, Any]:
    """Return the manifest body after checking its signature (against ``trusted`` if given)."""
    try:
        doc = json.loads(data)
        body, sig = doc["manifest"], doc["signature"]
        if sig.get("alg") != "ed25519":
            raise ManifestError(f"unsupported signature algorithm {sig.get('alg')!r}")
        key = parse_public_key_text(sig["key"])
        value = base64.b64decode(sig["value"], validate=True)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ManifestError(f"malformed manifest: {exc}") from exc
    if not isinstance(body, dict):
        raise ManifestError("manifest body is not an object")
    version = body.get("version")
    canonical = _CANONICAL.get(version) if type(version) is int else None
    if canonical is None:
        raise ManifestError(f"unknown manifest format version {version!r}")
    if trusted is not None and public_key_text(trusted) != public_key_text(key):
        raise ManifestError("signed by a different station key than expected")
    try:
        key.verify(value, canonical(body))
    except InvalidSignature:
        raise ManifestError("signature does not match the manifest content") from None
    except (TypeError, ValueError) as exc:  # a value RFC 8785 cannot represent (e.g. a huge integer)
        raise ManifestError(f"manifest cannot be canonicalised: {exc}") from None
    return body
