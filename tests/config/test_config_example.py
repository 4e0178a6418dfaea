"""The shipped example config and the schema stay valid, documented and in step with the model."""

from __future__ import annotations

import re
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from config import Policies, SftpConfig, UploadPolicy, example_config_path, load_config, load_schema
from config.model import DEFAULT_LANGUAGE, DEFAULT_RESERVE_MB, DEFAULT_SFTP_PORT, DEFAULT_TIMEZONE


def test_schema_is_valid_draft_2020_12() -> None:
    jsonschema.Draft202012Validator.check_schema(load_schema())


def test_example_loads() -> None:
    cfg = load_config(example_config_path(), check_files=False)
    assert cfg.station.id == "dock-stadhuis-01"
    assert cfg.source_file == example_config_path()
    assert len(cfg.slots) >= 1


def test_example_sftp_block_is_valid(tmp_path: Path) -> None:
    # The sftp block ships commented out; enabled as the comment says, it must still validate.
    text = example_config_path().read_text()
    start = text.index("  # sftp:\n")
    end = text.index("\n", text.index("  #   keepalive_s:", start))
    block = re.sub(r"(?m)^  # ", "  ", text[start:end])
    enabled = text[:start] + block + text[end:]
    enabled = enabled.replace("  target: local\n", "  target: sftp\n", 1)
    path = tmp_path / "station.yaml"
    path.write_text(enabled)
    cfg = load_config(path, check_files=False)
    assert cfg.vault.sftp is not None and cfg.vault.sftp.host == "vault.gemeente.example"


def _property_names(schema: Any) -> set[str]:
    names: set[str] = set()
    if isinstance(schema, dict):
        names |= set(schema.get("properties", {}))
        for value in schema.values():
            names |= _property_names(value)
    elif isinstance(schema, list):
        for value in schema:
            names |= _property_names(value)
    return names


def test_example_documents_every_key() -> None:
    text = example_config_path().read_text()
    missing = [name for name in sorted(_property_names(load_schema())) if not re.search(rf"\b{name}:", text)]
    assert missing == []
    # Every key line carries an explanation, inline or on the line above. Section headers and
    # the later slot entries (repeats of the documented first one) are exempt.
    lines = text.splitlines()
    for i, line in enumerate(lines):
        item = line.strip()
        if not re.match(r"(- )?[a-z_]+:", item) or "#" in line or item.endswith(":"):
            continue
        if item.startswith(("- id:", "label:", "usb_ports:")) and i > lines.index("slots:") + 3:
            continue
        assert lines[i - 1].strip().startswith("#"), f"undocumented: {line}"


def _defaults(schema: dict[str, Any], *path: str) -> dict[str, Any]:
    node = schema
    for key in path:
        node = node["properties"][key]
    return {k: v["default"] for k, v in node["properties"].items() if "default" in v}


def test_schema_defaults_match_model() -> None:
    schema = load_schema()
    assert _defaults(schema, "policies") == {f.name: f.default for f in fields(Policies)}
    assert _defaults(schema, "station") == {"timezone": DEFAULT_TIMEZONE, "language": DEFAULT_LANGUAGE}
    assert _defaults(schema, "store") == {"reserve_mb": DEFAULT_RESERVE_MB}
    sftp_defaults = {f.name: f.default for f in fields(SftpConfig) if f.default is not MISSING}
    assert _defaults(schema, "vault", "sftp") == {"port": DEFAULT_SFTP_PORT, **sftp_defaults}
    upload_defaults = {f.name: f.default for f in fields(UploadPolicy) if f.default is not None}
    assert _defaults(schema, "vault", "upload") == {**upload_defaults, "windows": []}


@pytest.mark.parametrize("section", ["station", "slots", "dock", "store", "vault", "keys", "policies"])
def test_every_object_rejects_unknown_keys(section: str) -> None:
    def check(node: Any, where: str) -> None:
        if isinstance(node, dict):
            if node.get("type") == "object":
                assert node.get("additionalProperties") is False, where
            for key, value in node.items():
                check(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                check(value, f"{where}/{i}")

    check(load_schema()["properties"][section], section)
