"""Canonical JSON: one byte representation per value, so hashes and signatures are stable.

``canonical_json`` is RFC 8785 (JSON Canonicalization Scheme, the ``rfc8785`` package), which
anyone can reproduce in any language: keys sorted by UTF-16 code units, numbers as ECMAScript
prints them (``1.0`` is ``1``), minimal string escapes. ``canonical_json_v1`` is the form used
before (Python's ``json.dumps`` with sorted keys); it is kept only so that documents signed or
hashed in that form (manifest format version 1) still verify.
"""

from __future__ import annotations

import json
from typing import Any

import rfc8785


def canonical_json(value: Any) -> bytes:
    return rfc8785.dumps(value)


def canonical_json_v1(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
