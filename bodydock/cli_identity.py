"""``bodydock identity``: the dock's public signing key and its fingerprint, for registering the
dock at the vault (``bodydock-vault station add ID --key ... --fingerprint ...``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

DEFAULT_CONFIG = Path("/etc/bodydock/station.yaml")


def cmd_identity(args: argparse.Namespace) -> int:
    from station.crypto.keys import KeyFileError, load_signing_key, public_key_text
    from station.crypto.signed import key_fingerprint

    station_id = None
    path: Path = args.signing_key
    if path is None:
        from config.loader import ConfigError, load_config

        try:
            cfg = load_config(args.config, check_files=False)
        except ConfigError as exc:
            print(f"bodydock: invalid configuration: {exc}", file=sys.stderr)
            return 2
        path, station_id = cfg.keys.signing_key, cfg.station.id
    try:
        key = load_signing_key(path)
    except KeyFileError as exc:
        print(f"bodydock identity: {exc}", file=sys.stderr)
        return 1
    if station_id:
        print(f"station: {station_id}")
    print(f"public key: {public_key_text(key)}")
    print(f"fingerprint: {key_fingerprint(key)}")
    if station_id:
        print(f"register at the vault: bodydock-vault station add {station_id} --key {public_key_text(key)} "
              f"--fingerprint '{key_fingerprint(key)}'")
    return 0


def add_parser(sub: Any) -> None:
    p = sub.add_parser("identity", help="print the dock's public signing key and fingerprint (for the vault)")
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG,
                   help="the station configuration naming the signing key and station id (default: %(default)s)")
    p.add_argument("--signing-key", type=Path, default=None, help="read this key file instead of the config's")
    p.set_defaults(fn=cmd_identity)
