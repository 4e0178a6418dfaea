"""The vault's own configuration: YAML checked against ``schema.json``, then frozen dataclasses.

Same approach as the dock's ``config/``: syntax, then the schema (every problem at once, with
its key path), then what a schema cannot say (users naming unknown roles). Relative paths are
relative to the config file. Secrets are only named here, never embedded: the identity and the
signing key are files with mode 0600, checked when a command needs them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

import jsonschema
import yaml

Purpose = Literal["complaint", "police_report", "om_request", "subject_request", "learning"]
# ``audit``: read the access log and the reconcile report (the privacy officer); ``administer``:
# the portal's accounts (the administrator). Both are used by the portal (vault/portal/).
Action = Literal["hold", "release", "close_case", "transfer", "withdraw", "audit", "administer"]
PURPOSES: tuple[str, ...] = ("complaint", "police_report", "om_request", "subject_request", "learning")
ACTIONS: tuple[str, ...] = ("hold", "release", "close_case", "transfer", "withdraw", "audit", "administer")


class VaultConfigError(Exception):
    def __init__(self, file: Path, errors: list[tuple[str, str]]) -> None:
        super().__init__(file, errors)
        self.file, self.errors = file, errors

    def __str__(self) -> str:
        return "\n".join(f"{self.file}: {k}: {r}" if k else f"{self.file}: {r}" for k, r in self.errors)


@dataclass(frozen=True, slots=True, kw_only=True)
class Retention:
    uncategorised_days: int = 28
    learning_days: int = 365
    evidence_after_close_days: int = 0
    export_days: int = 28


@dataclass(frozen=True, slots=True, kw_only=True)
class BucketConfig:
    """The docks deliver into this S3 bucket instead of a folder; the vault's own credentials."""

    endpoint: str
    bucket: str
    credentials_file: Path  # [default] aws_access_key_id / aws_secret_access_key, mode 0600
    region: str = "us-east-1"
    ca_file: Path | None = None
    prefix: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Role:
    name: str
    purposes: frozenset[str]
    actions: frozenset[str]
    description: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    name: str
    roles: tuple[str, ...]
    full_name: str = ""
    personnel_number: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PortalConfig:
    """The vault portal (vault/portal/): HTTPS only; accounts are files (mode 0600), never in this YAML."""

    cert_file: Path
    key_file: Path  # mode 0600
    accounts_dir: Path  # one file per user (password hash, TOTP secret), mode 0600
    host: str = "127.0.0.1"
    port: int = 8443
    session_timeout_s: float = 900.0  # idle time after which a session ends
    max_failures: int = 5  # failed logins in a row before the account locks
    lockout_s: float = 900.0
    failures_per_minute: int = 20  # failed logins from one address before it must wait


@dataclass(frozen=True, slots=True, kw_only=True)
class VaultConfig:
    id: str
    name: str
    inbox: Path
    state_dir: Path
    identity_file: Path
    signing_key: Path
    view_dir: Path | None
    intake_interval_s: float
    retention: Retention
    roles: dict[str, Role]
    users: dict[str, User]
    source_file: Path | None = None
    bucket: BucketConfig | None = None  # set: deliveries are in this bucket, not in ``inbox``
    portal: PortalConfig | None = None

    @property
    def deliveries(self) -> str:
        """Where the docks deliver, for people: the folder or the bucket."""
        if self.bucket is not None:
            return f"s3://{self.bucket.bucket}/{self.bucket.prefix} at {self.bucket.endpoint}"
        return str(self.inbox)

    @property
    def catalog_path(self) -> Path:
        return self.state_dir / "catalog.sqlite"

    @property
    def access_log_path(self) -> Path:
        return self.state_dir / "access.log"

    @property
    def audit_log_path(self) -> Path:
        return self.state_dir / "vault-audit.log"

    @property
    def quarantine_dir(self) -> Path:
        return self.state_dir / "quarantine"

    @property
    def exports_dir(self) -> Path:
        return self.state_dir / "exports"

    @property
    def metrics_path(self) -> Path:
        return self.state_dir / "metrics" / "bodydock_vault.prom"

    def views_dir(self) -> Path:
        if self.view_dir is not None:
            return self.view_dir
        # tmpfs: a decrypted view never reaches a disk that outlives a power cut.
        shm = Path("/dev/shm")
        if shm.is_dir() and os.access(shm, os.W_OK):
            return shm / f"bodydock-vault-{self.id}"
        return self.state_dir / "views"

    def roles_of(self, user: User) -> list[Role]:
        return [self.roles[r] for r in user.roles]


@cache
def load_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(files("vault").joinpath("schema.json").read_text("utf-8"))
    return schema


def _path(base: Path, value: str) -> Path:
    p = Path(value)
    return p if p.is_absolute() else base / p


def _key_path(parts: Any) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def parse_config(data: Any, file: Path) -> VaultConfig:
    file = file.absolute()
    validator = jsonschema.Draft202012Validator(load_schema())
    problems = sorted({(_key_path(e.absolute_path), e.message[:200]) for e in validator.iter_errors(data)})
    if problems:
        raise VaultConfigError(file, problems)
    base = file.parent
    v = data["vault"]
    roles = {
        name: Role(name=name, purposes=frozenset(r["purposes"]), actions=frozenset(r.get("actions", ())),
                   description=r.get("description", ""))
        for name, r in data["roles"].items()
    }
    users: dict[str, User] = {}
    for i, u in enumerate(data["users"]):
        for role in u["roles"]:
            if role not in roles:
                problems.append((f"users[{i}].roles", f"unknown role {role!r}"))
        if u["name"] in users:
            problems.append((f"users[{i}].name", f"user {u['name']!r} is listed twice"))
        users[u["name"]] = User(name=u["name"], roles=tuple(u["roles"]), full_name=u.get("full_name", ""),
                                personnel_number=u.get("personnel_number"))
    if problems:
        raise VaultConfigError(file, problems)
    b = v.get("bucket")
    bucket = None if b is None else BucketConfig(
        endpoint=b["endpoint"], bucket=b["bucket"], credentials_file=_path(base, b["credentials_file"]),
        region=b.get("region", "us-east-1"), ca_file=_path(base, b["ca_file"]) if "ca_file" in b else None,
        prefix=b.get("prefix", ""))
    state_dir = _path(base, v["state_dir"])
    pc = data.get("portal")
    portal = None if pc is None else PortalConfig(
        cert_file=_path(base, pc["cert_file"]), key_file=_path(base, pc["key_file"]),
        accounts_dir=_path(base, pc.get("accounts_dir", str(state_dir / "portal-accounts"))),
        host=pc.get("host", "127.0.0.1"), port=int(pc.get("port", 8443)),
        session_timeout_s=float(pc.get("session_timeout_s", 900)), max_failures=int(pc.get("max_failures", 5)),
        lockout_s=float(pc.get("lockout_s", 900)), failures_per_minute=int(pc.get("failures_per_minute", 20)))
    return VaultConfig(
        id=v["id"], name=v.get("name", v["id"]), bucket=bucket, state_dir=state_dir,
        # Over a bucket there is no inbox folder; the name stays for code that prints it.
        inbox=_path(base, v["inbox"]) if "inbox" in v else state_dir / "inbox",
        identity_file=_path(base, v["identity_file"]), signing_key=_path(base, v["signing_key"]),
        view_dir=_path(base, v["view_dir"]) if "view_dir" in v else None,
        intake_interval_s=float(v.get("intake_interval_s", 60)),
        retention=Retention(**data.get("retention", {})), roles=roles, users=users, source_file=file,
        portal=portal,
    )


def load_config(path: Path) -> VaultConfig:
    file = Path(path).absolute()
    try:
        data = yaml.safe_load(file.read_text("utf-8"))
    except FileNotFoundError:
        raise VaultConfigError(file, [("", "config file not found")]) from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise VaultConfigError(file, [("", f"cannot read config: {exc}")]) from None
    return parse_config(data, file)


def example_config_path() -> Path:
    return Path(__file__).with_name("example.yaml")
