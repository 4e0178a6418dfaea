"""The roster and checkout sections: defaults in step with the model, conditional keys, and a
broken roster file stopping start-up."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
import yaml

from config import ConfigError, example_config_path, load_config, load_schema
from config.model import BadgeConfig, CheckoutConfig, PinLockoutConfig, RecordingPolicyConfig, RosterConfig
from tests.conftest import write_station_config
from tests.station.shift_helpers import write_roster


def _defaults(node: dict[str, Any]) -> dict[str, Any]:
    return {k: v["default"] for k, v in node["properties"].items() if "default" in v}


def test_schema_defaults_match_model() -> None:
    checkout = load_schema()["properties"]["checkout"]
    model = {f.name: f.default for f in fields(CheckoutConfig)}
    scalars = {k: v for k, v in model.items() if k not in ("firmware_current", "pin_lockout", "recording_policy",
                                                            "badge")}
    assert _defaults(checkout) == {**scalars, "firmware_current": []} and model["firmware_current"] == ()
    props = checkout["properties"]
    for name, cls in (("pin_lockout", PinLockoutConfig), ("recording_policy", RecordingPolicyConfig),
                      ("badge", BadgeConfig)):
        assert _defaults(props[name]) == {f.name: f.default for f in fields(cls) if f.default is not None}, name
    roster = load_schema()["properties"]["roster"]
    assert _defaults(roster) == {"refresh_minutes": RosterConfig.__dataclass_fields__["refresh_minutes"].default}


def test_example_checkout_is_the_default() -> None:
    cfg = load_config(example_config_path(), check_files=False)
    assert cfg.checkout == CheckoutConfig()
    assert cfg.roster is not None and cfg.roster.source == "file"


def write(tmp_path: Path, extra: dict[str, Any]) -> Path:
    env = write_station_config(tmp_path, slots=1)
    data = yaml.safe_load(env.config_path.read_text())
    data.update(extra)
    env.config_path.write_text(yaml.safe_dump(data))
    return env.config_path


@pytest.mark.parametrize(("extra", "where"), [
    ({"roster": {"source": "file"}}, "roster.file"),
    ({"roster": {"source": "vault", "vault_path": "r.yaml"}}, "roster.public_key"),
    ({"roster": {"source": "vault", "vault_path": "../r.yaml", "public_key": "ed25519:x"}}, "roster.vault_path"),
    ({"roster": {"source": "file", "file": "r.yaml", "public_key": "ed25519:AAAA"}}, "roster.public_key"),
    ({"checkout": {"badge": {"source": "evdev"}}}, "checkout.badge.device"),
    ({"checkout": {"policy": "random"}}, "checkout.policy"),
    ({"checkout": {"recording_policy": {"prebuffer_s": 9999}}}, "checkout.recording_policy.prebuffer_s"),
    ({"checkout": {"firmware_current": [{"model": "A", "version": "1"}, {"model": "A", "version": "2"}]}},
     "checkout.firmware_current[1].model"),
    ({"checkout": {"pin_lockout": {"tries": 3}}}, "checkout.pin_lockout.tries"),
])
def test_problems_name_the_key(tmp_path: Path, extra: dict[str, Any], where: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, extra))
    assert where in [kp for kp, _ in info.value.errors], info.value.format_all()


def test_roster_file_is_checked_at_start_up(tmp_path: Path) -> None:
    roster = tmp_path / "roster.yaml"
    path = write(tmp_path, {"roster": {"source": "file", "file": str(roster)}})
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(path)
    roster.write_text("officers: [{personnel_number: '1', name: x, roles: [officer], pin_hash: 'scrypt$weak'}]")
    with pytest.raises(ConfigError, match="pin_hash") as info:
        load_config(path)
    assert "scrypt$weak" not in str(info.value)
    write_roster(roster)
    cfg = load_config(path)
    assert cfg.roster is not None and cfg.roster.file == roster
    assert load_config(path, check_files=False).roster == cfg.roster


def test_vault_roster_needs_the_local_vault(tmp_path: Path) -> None:
    from station.crypto.keys import generate_signing_key

    public = generate_signing_key(tmp_path / "roster.key")
    cfg = load_config(write(tmp_path, {"roster": {"source": "vault", "vault_path": "config/roster.yaml",
                                                  "public_key": public}}))
    assert cfg.roster is not None and cfg.roster.vault_path == "config/roster.yaml"
