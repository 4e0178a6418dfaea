"""``bodydock verify``: manifests checked against pinned station keys, and the footage next to them.

The key inside a manifest is never trusted on its own: the manifest must be signed by the key
pinned for the station it names, from ``--trust FILE`` (station id -> public key, see
``station/crypto/trustfile.py``) or, without one, this dock's own key from ``--config``.
Folders are searched for manifests (a vault folder as it is).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from station.crypto.trustfile import PinnedStations

DEFAULT_CONFIG = Path("/etc/bodydock/station.yaml")


def _pins(args: argparse.Namespace) -> PinnedStations | str:
    from station.crypto.trustfile import TrustFileError, load_trust_file

    if args.trust is not None:
        try:
            return load_trust_file(args.trust)
        except TrustFileError as exc:
            return str(exc)
    from config.loader import ConfigError, load_config
    from station.crypto.keys import KeyFileError, load_signing_key

    try:
        cfg = load_config(args.config, check_files=False)
        key = load_signing_key(cfg.keys.signing_key)
    except (ConfigError, KeyFileError, OSError) as exc:
        return f"no --trust FILE given and this dock's key cannot be read ({exc})"
    return PinnedStations(keys={cfg.station.id: key.public_key()})


def _manifests(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(path.rglob("*.manifest.json"))
            out.extend(found or [path])  # an empty folder is reported, not passed
        elif path.name.endswith(".manifest.json"):
            out.append(path)
        else:
            out.append(path.with_name(path.name.split(".")[0] + ".manifest.json"))
    return out


def cmd_verify(args: argparse.Namespace) -> int:
    """Check each manifest's signature against the pinned key and the SHA-256 of the (encrypted)
    footage next to it. With ``--identity`` (the vault's age identity, which is never on a dock)
    the footage is also decrypted and its plaintext SHA-256 compared with the manifest.
    """
    from station.crypto.hashing import age_plaintext_sha256, sha256_file
    from station.crypto.signed import ManifestError

    pins = _pins(args)
    if isinstance(pins, str):
        print(f"bodydock verify: {pins}", file=sys.stderr)
        return 2
    bad = 0
    for manifest in _manifests(args.paths):
        if manifest.is_dir():
            print(f"{manifest}: FAILED: no manifests in this folder")
            bad += 1
            continue
        try:
            body = pins.open_manifest(manifest.read_bytes())
        except (OSError, ManifestError) as exc:
            print(f"{manifest}: FAILED: {exc}")
            bad += 1
            continue
        by = f"pinned key of {body['station']}"
        if body.get("kind") == "audit-segment":
            bad += _verify_segment(manifest, body, by)
            continue
        payload = manifest.with_name(str(body["payload"]["file"]))
        if not payload.exists():
            print(f"{manifest}: signature OK, {by} (payload not present here)")
            continue
        cipher = sha256_file(payload)
        if cipher != body["payload"]["sha256"]:
            print(f"{payload}: FAILED: hashes to {cipher}, manifest says {body['payload']['sha256']}")
            bad += 1
            continue
        if args.identity:
            try:
                plain = age_plaintext_sha256(payload, args.identity)
            except OSError as exc:
                print(f"{payload}: FAILED: {exc}")
                bad += 1
                continue
            if plain != body["sha256"]:
                print(f"{payload}: FAILED: plaintext hashes to {plain}, manifest says {body['sha256']}")
                bad += 1
                continue
            print(f"{payload}: OK (signature, ciphertext and plaintext SHA-256), {by}")
        else:
            print(f"{payload}: OK (signature and SHA-256), {by}")
    return 1 if bad else 0


def _verify_segment(manifest: Path, body: dict[str, Any], by: str) -> int:
    """An audit segment's manifest: the signature (checked by the caller) and the segment's own SHA-256."""
    from station.crypto.hashing import sha256_file

    segment = manifest.with_name(str(body["file"]))
    if not segment.exists():
        print(f"{manifest}: signature OK, {by} (audit segment not present here)")
        return 0
    digest = sha256_file(segment)
    if digest != body["sha256"]:
        print(f"{segment}: FAILED: hashes to {digest}, manifest says {body['sha256']}")
        return 1
    print(f"{segment}: OK (signature and SHA-256), {by} - audit entries {body['first_seq']}-{body['last_seq']}")
    return 0


def add_parser(sub: Any, default_config: Path = DEFAULT_CONFIG) -> None:
    ver = sub.add_parser("verify", help="verify manifests (files or folders) against pinned station keys, and the "
                                        "footage next to them")
    ver.add_argument("paths", type=Path, nargs="+")
    ver.add_argument("--trust", type=Path, help="trust file: '<station-id> ed25519:<key>' per line, or the JSON of "
                                                "`bodydock-vault station list --json`")
    ver.add_argument("--config", type=Path, default=default_config,
                     help="without --trust: pin this dock's own station key from its configuration")
    ver.add_argument("--identity", type=Path, help="vault age identity: also decrypt and check the plaintext")
    ver.set_defaults(fn=cmd_verify)
