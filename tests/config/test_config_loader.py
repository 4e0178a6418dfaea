"""Tests for config.load_config: every kind of problem names the file and the exact key path."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from config import (
    ConfigError,
    DockConfig,
    Policies,
    SftpConfig,
    StationConfig,
    load_config,
)
from station.crypto import bech32, keys

Data = dict[str, Any]


@pytest.fixture
def recipients(tmp_path: Path) -> list[str]:
    return [keys.generate_age_identity(tmp_path / "vault.agekey")]


@pytest.fixture
def base(tmp_path: Path, recipients: list[str]) -> Data:
    """A valid config (as data) whose signing key really exists with mode 0600."""
    keys.generate_signing_key(tmp_path / "signing.key")
    return {
        "station": {"id": "dock-test-01", "name": "Test", "timezone": "Europe/Amsterdam", "language": "nl"},
        "state_dir": str(tmp_path / "state"),
        "slots": [
            {"id": 1, "usb_ports": ["1-1.1", "2-1.1"]},
            {"id": 2, "label": "B", "usb_ports": ["1-1.2"]},
        ],
        "dock": {"source": "simulated", "simulated_path": str(tmp_path / "sim")},
        "store": {"path": str(tmp_path / "store"), "reserve_mb": 10},
        "vault": {"target": "local", "local": {"path": str(tmp_path / "vault")}, "recipients": recipients},
        "keys": {"signing_key": str(tmp_path / "signing.key")},
        "policies": {"verify": "both"},
    }


def write(tmp_path: Path, data: Data | str, name: str = "station.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


def expect_error(path: Path, key_path: str, *, check_files: bool = True) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(path, check_files=check_files)
    err = info.value
    assert err.file == path
    assert err.key_path == key_path, err.format_all()
    assert str(path) in str(err)
    if key_path:
        assert str(err) == f"{path}: {key_path}: {err.reason}"
    return err


def mutated(base: Data, change: Callable[[Data], object]) -> Data:
    data = copy.deepcopy(base)
    change(data)
    return data


# --- valid configs -------------------------------------------------------------------------------


def test_valid_config_with_real_keys_loads(tmp_path: Path, base: Data, recipients: list[str]) -> None:
    cfg = load_config(write(tmp_path, base))
    assert isinstance(cfg, StationConfig)
    assert cfg.source_file == tmp_path / "station.yaml"
    assert cfg.station.id == "dock-test-01"
    assert [(s.id, s.label, s.usb_ports) for s in cfg.slots] == [
        (1, "1", ("1-1.1", "2-1.1")),
        (2, "B", ("1-1.2",)),
    ]
    assert cfg.dock == DockConfig(source="simulated", simulated_path=tmp_path / "sim")
    assert cfg.store.reserve_bytes == 10 * 1024 * 1024
    assert cfg.vault.local_path == tmp_path / "vault"
    assert cfg.vault.sftp is None
    assert cfg.vault.recipients == tuple(recipients)
    assert cfg.keys.signing_key == tmp_path / "signing.key"
    assert cfg.policies == Policies(verify="both")


def test_defaults(tmp_path: Path, base: Data) -> None:
    del base["station"]["name"], base["station"]["timezone"], base["station"]["language"]
    del base["store"]["reserve_mb"], base["policies"]
    cfg = load_config(write(tmp_path, base))
    assert cfg.station.name == "dock-test-01"
    assert (cfg.station.timezone, cfg.station.language) == ("Europe/Amsterdam", "nl")
    assert cfg.store.reserve_bytes == 2048 * 1024 * 1024
    assert cfg.policies == Policies()
    assert cfg.policies.verify == "reread" and cfg.policies.step_timeout_s == 600


def test_relative_paths_resolve_against_config_dir(tmp_path: Path, base: Data, monkeypatch: pytest.MonkeyPatch) -> None:
    conf_dir = tmp_path / "etc"
    (conf_dir / "keys").mkdir(parents=True)
    keys.generate_signing_key(conf_dir / "keys" / "sign.key")
    base["state_dir"] = "state"
    base["store"]["path"] = "./store"
    base["dock"]["simulated_path"] = "../sim"
    base["vault"]["local"]["path"] = "vault"
    base["keys"]["signing_key"] = "keys/sign.key"
    path = write(conf_dir, base)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cfg = load_config(Path("..") / "etc" / "station.yaml")  # a relative config path, too
    assert cfg.source_file.is_absolute()
    assert cfg.source_file.resolve() == path
    real = conf_dir.resolve()
    assert cfg.state_dir.resolve() == real / "state"
    assert cfg.store.path.resolve() == real / "store"
    assert cfg.dock.simulated_path is not None
    assert cfg.dock.simulated_path.resolve() == tmp_path / "sim"
    assert cfg.vault.local_path is not None and cfg.vault.local_path.resolve() == real / "vault"
    assert cfg.keys.signing_key.resolve() == real / "keys" / "sign.key"


def test_sftp_target(tmp_path: Path, base: Data) -> None:
    keys.generate_signing_key(tmp_path / "vault_ed25519")  # any 0600 file stands in for an SSH key
    base["vault"] = {
        "target": "sftp",
        "sftp": {
            "host": "vault.gemeente.example",
            "user": "bodydock",
            "private_key": "vault_ed25519",
            "known_hosts_line": "vault.gemeente.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5",
            "root": "/incoming",
        },
        "recipients": base["vault"]["recipients"],
    }
    cfg = load_config(write(tmp_path, base))
    assert cfg.vault.target == "sftp"
    assert cfg.vault.local_path is None
    assert cfg.vault.sftp == SftpConfig(
        host="vault.gemeente.example",
        port=22,
        user="bodydock",
        private_key=tmp_path / "vault_ed25519",
        known_hosts_line="vault.gemeente.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5",
        root="/incoming",
    )

    (tmp_path / "vault_ed25519").chmod(0o644)
    err = expect_error(write(tmp_path, base), "vault.sftp.private_key")
    assert "group/other-readable (mode 0644)" in err.reason
    load_config(write(tmp_path, base), check_files=False)


def test_check_files_false_skips_key_files(tmp_path: Path, base: Data) -> None:
    base["keys"]["signing_key"] = str(tmp_path / "absent.key")
    cfg = load_config(write(tmp_path, base), check_files=False)
    assert cfg.keys.signing_key == tmp_path / "absent.key"


# --- schema errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "key_path"),
    [
        (lambda d: d.update(polices={}), "polices"),
        (lambda d: d["store"].update(reserv_mb=1), "store.reserv_mb"),
        (lambda d: d["slots"][1].update(lable="x"), "slots[1].lable"),
        (lambda d: d["vault"]["local"].update(mode="x"), "vault.local.mode"),
    ],
)
def test_unknown_key(tmp_path: Path, base: Data, change: Callable[[Data], object], key_path: str) -> None:
    err = expect_error(write(tmp_path, mutated(base, change)), key_path)
    assert err.reason == "unknown key"


@pytest.mark.parametrize(
    ("change", "key_path", "reason"),
    [
        (lambda d: d["policies"].update(chunk_kib="big"), "policies.chunk_kib", "is not of type 'integer'"),
        (lambda d: d["policies"].update(min_battery_percent=True), "policies.min_battery_percent", "type"),
        (lambda d: d["slots"][0].update(usb_ports="1-1.1"), "slots[0].usb_ports", "type 'array'"),
        (lambda d: d.update(slots={"id": 1}), "slots", "type 'array'"),
        (lambda d: d["policies"].update(chunk_kib=32), "policies.chunk_kib", "less than the minimum"),
        (lambda d: d["station"].update(id="Dock_1"), "station.id", "does not match"),
        (lambda d: d["slots"][1].update(usb_ports=["usb1"]), "slots[1].usb_ports[0]", "does not match"),
        (lambda d: d["slots"][0].update(id=100), "slots[0].id", "maximum"),
        (lambda d: d.update(slots=[]), "slots", "should be non-empty"),
        (lambda d: d["vault"].update(recipients=[]), "vault.recipients", "should be non-empty"),
        (lambda d: d["dock"].update(source="usb"), "dock.source", "is not one of ['simulated', 'udev']"),
    ],
)
def test_schema_violation(
    tmp_path: Path, base: Data, change: Callable[[Data], object], key_path: str, reason: str
) -> None:
    err = expect_error(write(tmp_path, mutated(base, change)), key_path)
    assert reason in err.reason


def test_bad_enum_message(tmp_path: Path, base: Data) -> None:
    base["policies"]["verify"] = "fast"
    path = write(tmp_path, base)
    err = expect_error(path, "policies.verify")
    assert str(err) == f"{path}: policies.verify: 'fast' is not one of ['device-hash', 'reread', 'both']"


@pytest.mark.parametrize(
    ("change", "key_path", "reason"),
    [
        (lambda d: d["keys"].pop("signing_key"), "keys.signing_key", "missing required key"),
        (lambda d: d.pop("vault"), "vault", "missing required key"),
        (lambda d: d["slots"][1].pop("usb_ports"), "slots[1].usb_ports", "missing required key"),
        (
            lambda d: d["dock"].pop("simulated_path"),
            "dock.simulated_path",
            "missing required key (when dock.source is 'simulated')",
        ),
        (
            lambda d: d["vault"].pop("local"),
            "vault.local",
            "missing required key (when vault.target is 'local')",
        ),
        (
            lambda d: d["vault"].update(target="sftp"),
            "vault.sftp",
            "missing required key (when vault.target is 'sftp')",
        ),
    ],
)
def test_missing_required_key(
    tmp_path: Path, base: Data, change: Callable[[Data], object], key_path: str, reason: str
) -> None:
    err = expect_error(write(tmp_path, mutated(base, change)), key_path)
    assert err.reason == reason


def test_udev_source_needs_no_simulated_path(tmp_path: Path, base: Data) -> None:
    base["dock"] = {"source": "udev"}
    assert load_config(write(tmp_path, base)).dock == DockConfig(source="udev", simulated_path=None)


def test_all_schema_errors_reported_in_path_order(tmp_path: Path, base: Data) -> None:
    base["policies"]["verify"] = "fast"
    base["store"]["reserv_mb"] = 1
    base["slots"][1]["id"] = "two"
    del base["keys"]["signing_key"]
    err = expect_error(write(tmp_path, base), "keys.signing_key")
    assert [kp for kp, _ in err.errors] == [
        "keys.signing_key",
        "policies.verify",
        "slots[1].id",
        "store.reserv_mb",
    ]
    assert err.errors[0] == (err.key_path, err.reason)
    assert err.format_all().count(str(tmp_path / "station.yaml")) == 4


def test_list_indexes_sort_numerically(tmp_path: Path, base: Data) -> None:
    base["slots"] = [{"id": i + 1, "usb_ports": [f"1-{i + 1}"]} for i in range(12)]
    base["slots"][2]["bad"] = 1
    base["slots"][10]["bad"] = 1
    err = expect_error(write(tmp_path, base), "slots[2].bad")
    assert [kp for kp, _ in err.errors] == ["slots[2].bad", "slots[10].bad"]


# --- YAML problems -------------------------------------------------------------------------------


def test_yaml_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "station:\n  id: dock-1\n  name: [unclosed\nstate_dir: /x\n")
    err = expect_error(path, "")
    assert "line" in err.reason and "column" in err.reason
    assert str(err).startswith(f"{path}: invalid YAML at line ")


def test_yaml_bad_indentation(tmp_path: Path) -> None:
    err = expect_error(write(tmp_path, "station:\n  id: a\n   name: b\n"), "")
    assert "invalid YAML at line 3, column" in err.reason


def test_duplicate_yaml_key(tmp_path: Path, base: Data) -> None:
    text = yaml.safe_dump(base, sort_keys=False) + "policies:\n  verify: reread\n"
    err = expect_error(write(tmp_path, text), "policies")
    assert "duplicate key" in err.reason and "first at line" in err.reason


def test_non_text_key(tmp_path: Path, base: Data) -> None:
    text = yaml.safe_dump(base, sort_keys=False).replace("policies:\n", "policies:\n  1: x\n")
    err = expect_error(write(tmp_path, text), "policies")
    assert "not text" in err.reason


def test_empty_file(tmp_path: Path) -> None:
    assert expect_error(write(tmp_path, "# nothing here\n"), "").reason == "file is empty"


def test_root_not_a_mapping(tmp_path: Path) -> None:
    assert "type 'object'" in expect_error(write(tmp_path, "- a\n- b\n"), "").reason


def test_config_file_missing(tmp_path: Path) -> None:
    assert expect_error(tmp_path / "absent.yaml", "").reason == "config file not found"


# --- checks beyond the schema --------------------------------------------------------------------


def test_missing_key_file(tmp_path: Path, base: Data) -> None:
    base["keys"]["signing_key"] = str(tmp_path / "absent.key")
    err = expect_error(write(tmp_path, base), "keys.signing_key")
    assert err.reason == "file not found"


@pytest.mark.parametrize(("mode", "text"), [(0o640, "0640"), (0o604, "0604"), (0o644, "0644")])
def test_readable_key_file(tmp_path: Path, base: Data, mode: int, text: str) -> None:
    key = tmp_path / "signing.key"
    key.chmod(mode)
    err = expect_error(write(tmp_path, base), "keys.signing_key")
    assert err.reason == f"group/other-readable (mode {text}); run chmod 600 {key}"


def test_key_file_not_ed25519(tmp_path: Path, base: Data) -> None:
    key = tmp_path / "signing.key"
    key.unlink()
    keys.generate_age_identity(key)
    assert "not a PEM private key" in expect_error(write(tmp_path, base), "keys.signing_key").reason


def test_bad_recipient_checksum(tmp_path: Path, base: Data, recipients: list[str]) -> None:
    good = recipients[0]
    base["vault"]["recipients"] = [good, good[:-1] + ("q" if good[-1] != "q" else "p")]
    err = expect_error(write(tmp_path, base), "vault.recipients[1]")
    assert "checksum" in err.reason


@pytest.mark.parametrize(
    ("recipient", "reason"),
    [
        (bech32.encode("age", bytes(31)), "wrong length"),
        (bech32.encode("xyz", bytes(32)), "wrong prefix"),
        ("AGE1" + "Q" * 58, "uppercase"),
    ],
)
def test_bad_recipient(tmp_path: Path, base: Data, recipient: str, reason: str) -> None:
    base["vault"]["recipients"] = [recipient]
    assert reason in expect_error(write(tmp_path, base), "vault.recipients[0]").reason


def test_duplicate_recipient(tmp_path: Path, base: Data, recipients: list[str]) -> None:
    base["vault"]["recipients"] = recipients * 2
    assert expect_error(write(tmp_path, base), "vault.recipients[1]").reason == "duplicate recipient"


def test_duplicate_slot_id(tmp_path: Path, base: Data) -> None:
    base["slots"][1]["id"] = 1
    err = expect_error(write(tmp_path, base), "slots[1].id")
    assert err.reason == "duplicate slot id 1 (also slots[0])"


def test_duplicate_usb_port(tmp_path: Path, base: Data) -> None:
    base["slots"][1]["usb_ports"] = ["1-1.2", "2-1.1"]
    err = expect_error(write(tmp_path, base), "slots[1].usb_ports[1]")
    assert err.reason == "USB port '2-1.1' is already used by slot 1 (slots[0])"


def test_usb_port_twice_in_one_slot(tmp_path: Path, base: Data) -> None:
    base["slots"][0]["usb_ports"] = ["1-1.1", "1-1.1"]
    assert "listed twice" in expect_error(write(tmp_path, base), "slots[0].usb_ports[1]").reason


def test_duplicate_slot_label(tmp_path: Path, base: Data) -> None:
    base["slots"][1]["label"] = "1"  # slot 1's default label
    assert "also used by slots[0]" in expect_error(write(tmp_path, base), "slots[1].label").reason


def test_unknown_timezone(tmp_path: Path, base: Data) -> None:
    base["station"]["timezone"] = "Europe/Amsterdm"
    err = expect_error(write(tmp_path, base), "station.timezone")
    assert err.reason == "unknown time zone 'Europe/Amsterdm'"


def test_semantic_errors_all_reported(tmp_path: Path, base: Data) -> None:
    base["slots"][1]["id"] = 1
    base["station"]["timezone"] = "Nowhere/Land"
    base["keys"]["signing_key"] = str(tmp_path / "absent.key")
    err = expect_error(write(tmp_path, base), "keys.signing_key")
    assert [kp for kp, _ in err.errors] == ["keys.signing_key", "slots[1].id", "station.timezone"]


def test_config_error_pickles(tmp_path: Path) -> None:
    err = ConfigError(tmp_path / "x.yaml", "policies.verify", "bad", [("policies.verify", "bad"), ("a", "b")])
    copy_ = pickle.loads(pickle.dumps(err))
    assert (str(copy_), copy_.errors) == (str(err), err.errors)
    # A problem with the whole file has no key path, and the empty field is left out.
    root_error = ConfigError(tmp_path / "x.yaml", "", "file is empty")
    assert str(root_error) == f"{tmp_path / 'x.yaml'}: file is empty"
