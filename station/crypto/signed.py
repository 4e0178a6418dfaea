"""Per-recording manifests: canonical JSON signed with the station's Ed25519 key.

The manifest travels with the footage to the vault; the signature lets the municipality prove
which dock produced which bytes (chain of custody for a transfer to police or OM).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from station.crypto.canonical import canonical_json
from station.crypto.keys import parse_public_key_text, public_key_text

MANIFEST_VERSION = 1


class ManifestError(Exception):
    pass


def sign_manifest(manifest: dict[str, Any], key: Ed25519PrivateKey) -> bytes:
    body = {"version": MANIFEST_VERSION, **manifest}
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
    except (ValueError, KeyError, TypeError) as exc:
        raise ManifestError(f"malformed manifest: {exc}") from exc
    if trusted is not None and public_key_text(trusted) != public_key_text(key):
        raise ManifestError("signed by a different station key than expected")
    try:
        key.verify(value, canonical_json(body))
    except InvalidSignature:
        raise ManifestError("signature does not match the manifest content") from None
    if not isinstance(body, dict):
        raise ManifestError("manifest body is not an object")
    return body
