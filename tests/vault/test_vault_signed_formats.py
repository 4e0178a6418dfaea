"""Manifests: format version 2 is RFC 8785 (verifiable with a stock JCS library), version 1
(Python's sorted json.dumps) still verifies, anything else is refused."""

from __future__ import annotations

import base64
import json

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from station.crypto.canonical import canonical_json, canonical_json_v1
from station.crypto.keys import public_key_text
from station.crypto.signed import MANIFEST_VERSION, ManifestError, key_fingerprint, open_manifest, sign_manifest

BODY = {"recording_id": "R1", "camera": {"clock_offset_s": 0.0, "serial": "C"}, "probe": {"duration_s": 10.0},
        "note": "café \u2028 ✓", "size": 123}


def test_v2_is_rfc8785_and_verifies_independently() -> None:
    key = Ed25519PrivateKey.generate()
    doc = json.loads(sign_manifest(BODY, key))
    body = doc["manifest"]
    assert body["version"] == MANIFEST_VERSION == 2
    raw = base64.b64decode(doc["signature"]["key"].removeprefix("ed25519:"))
    Ed25519PublicKey.from_public_bytes(raw).verify(base64.b64decode(doc["signature"]["value"]), rfc8785.dumps(body))
    assert b'"clock_offset_s":0' in canonical_json(body)  # ECMAScript numbers: 0.0 is 0
    assert open_manifest(sign_manifest(BODY, key), key.public_key())["recording_id"] == "R1"


def test_v1_manifests_still_verify() -> None:
    key = Ed25519PrivateKey.generate()
    body = {"version": 1, **BODY}
    assert canonical_json_v1(body) != canonical_json(body)  # the float makes the forms differ
    doc = {"manifest": body, "signature": {"alg": "ed25519", "key": public_key_text(key),
                                           "value": base64.b64encode(key.sign(canonical_json_v1(body))).decode()}}
    data = canonical_json_v1(doc) + b"\n"
    assert open_manifest(data, key.public_key())["probe"] == {"duration_s": 10.0}
    # A v1 signature does not pass as v2, nor a v2 one as v1: the version picks the form.
    body2 = {**body, "version": 2}
    doc2 = {"manifest": body2, "signature": {**doc["signature"],
                                             "value": base64.b64encode(key.sign(canonical_json_v1(body2))).decode()}}
    with pytest.raises(ManifestError, match="signature"):
        open_manifest(json.dumps(doc2).encode())


@pytest.mark.parametrize("version", [0, 3, "2", None, 2.0])
def test_unknown_versions_are_refused(version: object) -> None:
    key = Ed25519PrivateKey.generate()
    body = {**BODY, "version": version}
    doc = {"manifest": body, "signature": {"alg": "ed25519", "key": public_key_text(key),
                                           "value": base64.b64encode(key.sign(json.dumps(body).encode())).decode()}}
    with pytest.raises(ManifestError, match="version"):
        open_manifest(json.dumps(doc).encode())


def test_fingerprint_is_stable_and_key_specific() -> None:
    a, b = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    assert key_fingerprint(a) == key_fingerprint(a.public_key())
    assert key_fingerprint(a) != key_fingerprint(b)
    assert len(key_fingerprint(a).split()) == 8
