"""Load and check the station's YAML config.

Order of checks: YAML syntax and duplicate keys, then the JSON schema (shape, types, ranges,
unknown keys), then checks the schema cannot express (unique slots and USB ports, time zone,
age recipients, and, with ``check_files``, the secret key files). Each stage reports every
problem it finds, so an operator fixes a file in one pass instead of one error per restart.
"""

from __future__ import annotations

import json
import os
import re
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from config.model import (
    DEFAULT_RESERVE_MB,
    DEFAULT_SFTP_PORT,
    AdapterHealth,
    AdaptersConfig,
    BacklogHealth,
    BadgeConfig,
    BatteryHealth,
    CheckoutConfig,
    ClockHealth,
    CpuHealth,
    DockConfig,
    FirmwareRule,
    HealthConfig,
    HubPort,
    KeysConfig,
    MemoryHealth,
    PinLockoutConfig,
    Policies,
    RecordingPolicyConfig,
    RosterConfig,
    S3Config,
    SftpConfig,
    SlotConfig,
    SlotHealth,
    StationConfig,
    StationIdentity,
    StatusAuth,
    StatusHttp,
    StoreConfig,
    StoreHealth,
    UploadPolicy,
    VaultConfig,
    VaultHealth,
)
from station.crypto.keys import KeyFileError, check_secret_file, load_signing_key, parse_age_recipient
from station.outbox.timewindows import TimeWindow

# A location in the document: mapping keys and list indexes from the root.
KeyPath = tuple[str | int, ...]
_Problem = tuple[KeyPath, str]

_MAX_REASON = 200
# sun_path holds 108 bytes including the terminating NUL.
_MAX_SOCKET_PATH = 107


class ConfigError(Exception):
    """The config file is unusable.

    ``key_path`` and ``reason`` describe the first problem (ordered by key path); ``errors``
    lists every problem found as ``(key_path, reason)``, the first one included.
    """

    def __init__(self, file: Path, key_path: str, reason: str, errors: Sequence[tuple[str, str]] | None = None) -> None:
        self.file = file
        self.key_path = key_path
        self.reason = reason
        self.errors: list[tuple[str, str]] = list(errors) if errors else [(key_path, reason)]
        # All constructor arguments in args, so the error survives pickling (worker processes).
        super().__init__(file, key_path, reason, self.errors)

    def _line(self, key_path: str, reason: str) -> str:
        # A problem with the file as a whole has no key path; skip the empty field.
        return f"{self.file}: {key_path}: {reason}" if key_path else f"{self.file}: {reason}"

    def __str__(self) -> str:
        return self._line(self.key_path, self.reason)

    def format_all(self) -> str:
        """All problems, one per line, for a CLI or log."""
        return "\n".join(self._line(kp, reason) for kp, reason in self.errors)


def format_key_path(path: Iterable[str | int]) -> str:
    """``("slots", 2, "usb_ports", 0)`` -> ``slots[2].usb_ports[0]``; the root is ``""``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _sort_key(problem: _Problem) -> tuple[tuple[tuple[int, int, str], ...], str]:
    # Numeric list indexes so slots[10] sorts after slots[2].
    path, reason = problem
    return tuple((0, p, "") if isinstance(p, int) else (1, 0, p) for p in path), reason


def _raise_problems(file: Path, problems: Iterable[_Problem]) -> None:
    ordered = sorted(set(problems), key=_sort_key)
    if not ordered:
        return
    errors = [(format_key_path(path), reason) for path, reason in ordered]
    raise ConfigError(file, errors[0][0], errors[0][1], errors)


# --- YAML --------------------------------------------------------------------------------------


def _parse_yaml(file: Path, text: str) -> Any:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise ConfigError(file, "", "file is empty")
        _raise_problems(file, _check_mapping_keys(node, (), set()))
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        raise ConfigError(file, "", _describe_yaml_error(exc)) from None
    except yaml.YAMLError as exc:
        raise ConfigError(file, "", f"invalid YAML: {exc}") from None
    finally:
        loader.dispose()


def _describe_yaml_error(exc: yaml.MarkedYAMLError) -> str:
    mark = exc.problem_mark or exc.context_mark
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = exc.problem or "syntax error"
    context = f" ({exc.context})" if exc.context else ""
    return f"invalid YAML{where}: {problem}{context}"


def _check_mapping_keys(node: yaml.Node, path: KeyPath, active: set[int]) -> list[_Problem]:
    """Find duplicate and non-text mapping keys, which PyYAML would silently accept.

    A duplicate key is a real hazard: the last one wins, so a second ``policies:`` block would
    quietly replace the first.
    """
    if id(node) in active:
        return [(path, "recursive YAML alias")]
    problems: list[_Problem] = []
    active.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # "<<: *anchor" merges are resolved by PyYAML itself
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != "tag:yaml.org,2002:str":
                line = key_node.start_mark.line + 1
                problems.append((path, f"key at line {line} is not text; quote it"))
                continue
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen:
                problems.append(((*path, key), f"duplicate key (line {line}; first at line {seen[key]})"))
                continue
            seen[key] = line
            problems += _check_mapping_keys(value_node, (*path, key), active)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            problems += _check_mapping_keys(item, (*path, i), active)
    active.discard(id(node))
    return problems


# --- schema ------------------------------------------------------------------------------------


@cache
def load_schema() -> dict[str, Any]:
    """The JSON schema for the station config (Draft 2020-12)."""
    schema: dict[str, Any] = json.loads(files("config").joinpath("schema.json").read_text("utf-8"))
    return schema


@cache
def _validator() -> jsonschema.protocols.Validator:
    return jsonschema.Draft202012Validator(load_schema())


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _schema_problems(data: Any) -> list[_Problem]:
    problems: list[_Problem] = []
    for error in _validator().iter_errors(data):
        path: KeyPath = tuple(error.absolute_path)
        # error.schema is the (sub)schema holding the failed keyword; always a dict here.
        schema: Mapping[str, Any] = error.schema if isinstance(error.schema, Mapping) else {}
        if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
            # Name each unknown key itself, not just the mapping that holds it.
            known = set(schema.get("properties", {}))
            patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
            for key in error.instance:
                if key not in known and not any(p.search(str(key)) for p in patterns):
                    problems.append(((*path, str(key)), "unknown key"))
        elif error.validator == "required" and isinstance(error.instance, Mapping):
            # A conditional requirement (if/then) carries its condition as description.
            condition = schema.get("description") if "then" in error.schema_path else None
            reason = "missing required key" + (f" ({condition})" if condition else "")
            for key in schema.get("required", ()):
                if key not in error.instance:
                    problems.append(((*path, key), reason))
        elif error.validator == "type":
            problems.append((path, f"{_short_repr(error.instance)} is not of type {error.validator_value!r}"))
        else:
            message = error.message
            if len(message) > _MAX_REASON:
                message = message[: _MAX_REASON - 3] + "..."
            problems.append((path, message))
    return problems


# --- model -------------------------------------------------------------------------------------


def _resolve(base: Path, value: str) -> Path:
    # Relative paths mean "next to the config file", so a config directory can be moved whole.
    path = Path(value)
    return path if path.is_absolute() else base / path


_SFTP_OPTIONAL = ("confirm", "streams", "connect_timeout_s", "io_timeout_s", "keepalive_s")
_S3_OPTIONAL = ("region", "prefix", "part_size_mib", "parallel_parts", "object_lock_days", "confirm",
                "connect_timeout_s", "io_timeout_s")


def _s3_config(base: Path, s3: Mapping[str, Any] | None) -> S3Config | None:
    if s3 is None:
        return None
    return S3Config(endpoint=s3["endpoint"], bucket=s3["bucket"],
                    credentials_file=_resolve(base, s3["credentials_file"]),
                    ca_file=_resolve(base, s3["ca_file"]) if "ca_file" in s3 else None,
                    **{k: s3[k] for k in _S3_OPTIONAL if k in s3})


def _upload_policy(data: Mapping[str, Any]) -> UploadPolicy:
    values: dict[str, Any] = dict(data)
    if "windows" in values:
        values["windows"] = tuple(values["windows"])
    return UploadPolicy(**values)


_HEALTH_SECTIONS: dict[str, type] = {
    "store": StoreHealth, "backlog": BacklogHealth, "vault": VaultHealth, "clock": ClockHealth,
    "cpu": CpuHealth, "memory": MemoryHealth, "slots": SlotHealth, "adapters": AdapterHealth,
    "battery": BatteryHealth,
}


def _health(data: Mapping[str, Any], base: Path) -> HealthConfig:
    # Every threshold has a dataclass default; the schema allows exactly the field names.
    values: dict[str, Any] = {k: cls(**data[k]) for k, cls in _HEALTH_SECTIONS.items() if k in data}
    values.update({k: data[k] for k in ("interval_s", "integrity_interval_s") if k in data})
    if "socket" in data:
        values["socket"] = _resolve(base, data["socket"])
    if "http" in data:
        http, auth = data["http"], data["http"]["auth"]
        values["http"] = StatusHttp(
            auth=StatusAuth(mode=auth["mode"], secret_file=_resolve(base, auth["secret_file"]),
                            **({"user": auth["user"]} if "user" in auth else {})),
            **{k: http[k] for k in ("host", "port") if k in http},
        )
    return HealthConfig(**values)


def _roster(data: Mapping[str, Any], base: Path) -> RosterConfig:
    values: dict[str, Any] = dict(data)
    if "file" in values:
        values["file"] = _resolve(base, values["file"])
    return RosterConfig(**values)


def _checkout(data: Mapping[str, Any], base: Path) -> CheckoutConfig:
    # Every key has a dataclass default; the schema allows exactly the field names.
    values: dict[str, Any] = {k: v for k, v in data.items()
                              if k not in ("firmware_current", "pin_lockout", "recording_policy", "badge")}
    values["firmware_current"] = tuple(FirmwareRule(**r) for r in data.get("firmware_current", ()))
    values["pin_lockout"] = PinLockoutConfig(**data.get("pin_lockout", {}))
    values["recording_policy"] = RecordingPolicyConfig(**data.get("recording_policy", {}))
    badge = dict(data.get("badge", {}))
    if "device" in badge:
        badge["device"] = _resolve(base, badge["device"])
    values["badge"] = BadgeConfig(**badge)
    return CheckoutConfig(**values)


def _build(data: Mapping[str, Any], file: Path) -> StationConfig:
    base = file.parent
    station = data["station"]
    slots = tuple(
        SlotConfig(
            id=s["id"], label=s.get("label", str(s["id"])), usb_ports=tuple(s["usb_ports"]),
            uhubctl=HubPort(hub=s["uhubctl"]["hub"], port=s["uhubctl"]["port"]) if "uhubctl" in s else None,
        )
        for s in data["slots"]
    )
    dock = data["dock"]
    store = data["store"]
    vault = data["vault"]
    sftp = vault.get("sftp")
    return StationConfig(
        station=StationIdentity(
            id=station["id"],
            name=station.get("name", station["id"]),
            **{k: station[k] for k in ("timezone", "language") if k in station},
        ),
        state_dir=_resolve(base, data["state_dir"]),
        slots=slots,
        dock=DockConfig(
            source=dock["source"],
            simulated_path=_resolve(base, dock["simulated_path"]) if "simulated_path" in dock else None,
            **{k: dock[k] for k in ("readiness_timeout_s", "debounce_ms", "uhubctl_command") if k in dock},
        ),
        store=StoreConfig(
            path=_resolve(base, store["path"]),
            reserve_bytes=store.get("reserve_mb", DEFAULT_RESERVE_MB) * 1024 * 1024,
        ),
        vault=VaultConfig(
            target=vault["target"],
            local_path=_resolve(base, vault["local"]["path"]) if "local" in vault else None,
            sftp=None
            if sftp is None
            else SftpConfig(
                host=sftp["host"],
                port=sftp.get("port", DEFAULT_SFTP_PORT),
                user=sftp["user"],
                private_key=_resolve(base, sftp["private_key"]),
                known_hosts_line=sftp["known_hosts_line"],
                root=sftp["root"],
                **{k: sftp[k] for k in _SFTP_OPTIONAL if k in sftp},
            ),
            recipients=tuple(vault["recipients"]),
            upload=_upload_policy(vault.get("upload", {})),
            s3=_s3_config(base, vault.get("s3")),
        ),
        keys=KeysConfig(signing_key=_resolve(base, data["keys"]["signing_key"])),
        # The schema allows exactly the field names, so defaults come from the dataclass.
        policies=Policies(**data.get("policies", {})),
        source_file=file,
        health=_health(data.get("health", {}), base),
        adapters=_adapters(data.get("adapters", {}), base),
        roster=_roster(data["roster"], base) if "roster" in data else None,
        checkout=_checkout(data.get("checkout", {}), base),
    )


def _adapters(data: Mapping[str, Any], base: Path) -> AdaptersConfig:
    # Adapter options are free-form (third-party adapters define their own); by convention keys
    # ending in _file or _path name files, resolved like every other path in the config.
    options = {
        name: {k: _resolve(base, v) if k.endswith(("_file", "_path")) and isinstance(v, str) else v
               for k, v in opts.items()}
        for name, opts in data.get("options", {}).items()
    }
    timeouts = {k: data[k] for k in ("call_timeout_s", "list_timeout_s", "read_timeout_s", "wipe_timeout_s")
                if k in data}
    return AdaptersConfig(options=options, **timeouts)


# --- checks beyond the schema ------------------------------------------------------------------

# The last word of an option name that holds a secret ("password", "api_key", "pin", ...).
_SECRET_WORDS = frozenset({"password", "passwd", "passphrase", "secret", "token", "key", "apikey", "pin",
                           "credential", "credentials", "pass", "pwd"})
_FILE_WORDS = frozenset({"file", "path"})


def _words(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)  # camelCase -> camel_Case
    return [w for w in re.split(r"[^a-z0-9]+", spaced.lower()) if w]


def _adapter_secret_problems(options: Mapping[str, Any], *, check_files: bool) -> list[_Problem]:
    """A secret never sits in the config: only a ``<name>_file`` with strict permissions may hold it.

    Adapter options are free-form, so this goes by name, at any depth.
    """
    problems: list[_Problem] = []

    def walk(value: Any, path: KeyPath) -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                walk(v, (*path, str(k)))
            return
        if isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, (*path, i))
            return
        name = next((p for p in reversed(path) if isinstance(p, str)), "")
        words = _words(name)
        if not words or value is None or isinstance(value, bool) or value == "":
            return  # "require_pin: true" is a setting, not a secret
        if words[-1] in _SECRET_WORDS:
            problems.append((path, f"an inline secret is refused: put it in a file readable only by the station "
                                   f"(mode 0600) and give its path as {name}_file"))
        elif words[-1] in _FILE_WORDS and len(words) > 1 and words[-2] in _SECRET_WORDS and check_files:
            try:
                check_secret_file(Path(str(value)))
            except KeyFileError as exc:
                problems.append((path, exc.reason))

    for adapter, opts in options.items():
        walk(opts, ("adapters", "options", adapter))
    return problems


def _shift_problems(cfg: StationConfig, *, check_files: bool) -> list[_Problem]:
    from station.crypto.keys import parse_public_key_text
    from station.shift.roster import RosterError, parse_roster

    problems: list[_Problem] = []
    models = [rule.model for rule in cfg.checkout.firmware_current]
    for i, model in enumerate(models):
        if model in models[:i]:
            problems.append((("checkout", "firmware_current", i, "model"), f"model {model!r} is listed twice"))
    roster = cfg.roster
    if roster is None:
        return problems
    if roster.public_key is not None:
        try:
            parse_public_key_text(roster.public_key)
        except ValueError as exc:
            problems.append((("roster", "public_key"), str(exc)))
    if roster.source == "vault" and cfg.vault.target != "local":
        # Only the local vault can be read back today; the SFTP target has no fetch yet.
        problems.append((("roster", "source"), "a vault roster needs vault.target 'local' in this build"))
    if check_files and roster.source == "file" and roster.file is not None:
        # A broken roster would lock every officer out at shift change: refuse to start instead.
        try:
            parse_roster(roster.file.read_bytes(), str(roster.file))
        except OSError as exc:
            problems.append((("roster", "file"), f"cannot read {roster.file}: {exc.strerror or exc}"))
        except RosterError as exc:
            problems.append((("roster", "file"), str(exc)))
    return problems


def _semantic_problems(cfg: StationConfig, *, check_files: bool) -> list[_Problem]:
    problems: list[_Problem] = []
    try:
        zoneinfo.ZoneInfo(cfg.station.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        problems.append((("station", "timezone"), f"unknown time zone {cfg.station.timezone!r}"))

    ids: dict[int, int] = {}
    labels: dict[str, int] = {}
    ports: dict[str, int] = {}
    for i, slot in enumerate(cfg.slots):
        if slot.id in ids:
            problems.append((("slots", i, "id"), f"duplicate slot id {slot.id} (also slots[{ids[slot.id]}])"))
        ids.setdefault(slot.id, i)
        # Staff are told "take the camera from slot <label>", so labels must be unambiguous.
        if slot.label in labels:
            problems.append(
                (("slots", i, "label"), f"label {slot.label!r} is also used by slots[{labels[slot.label]}]")
            )
        labels.setdefault(slot.label, i)
        for j, port in enumerate(slot.usb_ports):
            owner = ports.get(port)
            if owner == i:
                problems.append((("slots", i, "usb_ports", j), f"USB port {port!r} is listed twice"))
            elif owner is not None:
                problems.append(
                    (
                        ("slots", i, "usb_ports", j),
                        f"USB port {port!r} is already used by slot {cfg.slots[owner].id} (slots[{owner}])",
                    )
                )
            else:
                ports[port] = i

    seen_recipients: set[bytes] = set()
    for i, recipient in enumerate(cfg.vault.recipients):
        try:
            public = parse_age_recipient(recipient)
        except ValueError as exc:
            problems.append((("vault", "recipients", i), str(exc)))
            continue
        if public in seen_recipients:
            problems.append((("vault", "recipients", i), "duplicate recipient"))
        seen_recipients.add(public)

    upload = cfg.vault.upload
    for i, text in enumerate(upload.windows):
        try:
            TimeWindow.parse(text)
        except ValueError as exc:
            problems.append((("vault", "upload", "windows", i), str(exc)))
    if upload.retry_max_s < upload.retry_initial_s:
        problems.append((("vault", "upload", "retry_max_s"), "must not be less than retry_initial_s"))

    problems += _health_problems(cfg.health)
    if len(os.fsencode(cfg.api_socket)) > _MAX_SOCKET_PATH:
        where: KeyPath = ("health", "socket") if cfg.health.socket else ("state_dir",)
        problems.append((where, f"local API socket path {cfg.api_socket} is longer than {_MAX_SOCKET_PATH} bytes"))

    problems += _shift_problems(cfg, check_files=check_files)
    problems += _adapter_secret_problems(cfg.adapters.options, check_files=check_files)

    if check_files:
        if cfg.health.http is not None:
            try:
                check_secret_file(cfg.health.http.auth.secret_file)
            except KeyFileError as exc:
                problems.append((("health", "http", "auth", "secret_file"), exc.reason))
        try:
            load_signing_key(cfg.keys.signing_key)
        except KeyFileError as exc:
            problems.append((("keys", "signing_key"), exc.reason))
        if cfg.vault.target == "sftp" and cfg.vault.sftp is not None:
            try:
                check_secret_file(cfg.vault.sftp.private_key)
            except KeyFileError as exc:
                problems.append((("vault", "sftp", "private_key"), exc.reason))
        if cfg.vault.target == "s3" and cfg.vault.s3 is not None:
            try:
                check_secret_file(cfg.vault.s3.credentials_file)
            except KeyFileError as exc:
                problems.append((("vault", "s3", "credentials_file"), exc.reason))
    return problems


def _health_problems(health: HealthConfig) -> list[_Problem]:
    """A warn threshold must be reached before its critical one."""
    problems: list[_Problem] = []
    # (section, warn, critical, True when lower values are worse)
    pairs = [
        ("store", "warn_free_percent", "critical_free_percent", True),
        ("backlog", "warn_oldest_age_s", "critical_oldest_age_s", False),
        ("backlog", "warn_count", "critical_count", False),
        ("vault", "warn_after_s", "critical_after_s", False),
        ("clock", "warn_offset_s", "critical_offset_s", False),
        ("cpu", "warn_temp_c", "critical_temp_c", False),
        ("cpu", "warn_load_per_cpu", "critical_load_per_cpu", False),
        ("memory", "warn_available_percent", "critical_available_percent", True),
        ("adapters", "warn_rate", "critical_rate", False),
        ("battery", "warn_health_percent", "critical_health_percent", True),
    ]
    for section, warn_key, critical_key, lower_is_worse in pairs:
        values = getattr(health, section)
        warn, critical = getattr(values, warn_key), getattr(values, critical_key)
        if warn is None or critical is None:
            continue
        if lower_is_worse and critical > warn:
            problems.append((("health", section, critical_key), f"must not be above {warn_key} ({warn:g})"))
        if not lower_is_worse and critical < warn:
            problems.append((("health", section, critical_key), f"must not be below {warn_key} ({warn:g})"))
    return problems


# --- entry point -------------------------------------------------------------------------------


def load_config(path: Path, *, check_files: bool = True) -> StationConfig:
    """Load, validate and check the config at ``path``; raise :class:`ConfigError` if unusable.

    ``check_files=False`` skips the key-file checks, for validating a config on a machine that
    does not hold the keys (e.g. CI or an operator's laptop).
    """
    file = Path(path).absolute()
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(file, "", "config file not found") from None
    except UnicodeDecodeError:
        raise ConfigError(file, "", "config file is not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(file, "", f"cannot read config file: {exc.strerror}") from None
    data = _parse_yaml(file, text)
    _raise_problems(file, _schema_problems(data))
    cfg = _build(data, file)
    _raise_problems(file, _semantic_problems(cfg, check_files=check_files))
    return cfg
