"""Access with a purpose: who may open which recording, why, and the record of it.

Named users and their roles come from the vault config; each role lists the purposes it may use
(complaint, police report, OM request, the subject's own request, learning) and the actions it
may take (hold, release, close a case, transfer, withdraw). There is no appraisal purpose: a
request naming one is refused and logged, like every other refusal. Learning footage opens only
for learning, only with the filmed person's consent, and only for its wearer or a role allowed
learning; other footage never opens for learning.

Every viewing is written to the hash-chained access log (fsynced) *before* anything is
decrypted; the plaintext goes to a private file (0600, on tmpfs where there is one) that is
removed afterwards, or straight to a player's stdin.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from station.crashpoints import crash_point
from station.timeutil import iso, utcnow
from vault import agedecrypt
from vault.catalog import ACCESS, Catalog, Recording
from vault.config import PURPOSES, User, VaultConfig
from vault.retention import recompute_case
from vault.store import StoreError
from vault.stores import open_store

# Words that ask for footage to judge staff. None is a purpose; they get their own refusal text.
APPRAISAL_WORDS = ("apprais", "beoordel", "functioner", "perform", "evaluat", "controle", "monitor")
NO_APPRAISAL = ("there is no appraisal purpose: footage is never used to judge staff "
                "(leren en niet controleren; WOR art. 27)")


class Refused(Exception):
    """The request is not allowed. The message says why in English (the command line, the access
    log); ``code`` names the rule and ``params`` its values, so a page can say it in Dutch."""

    def __init__(self, message: str, *, code: str = "other", **params: str) -> None:
        super().__init__(message)
        self.code = code
        self.params = params


@dataclass(frozen=True, slots=True, kw_only=True)
class Grant:
    user: User
    via: str  # the role that allows it, or "wearer"


def _looks_like_appraisal(purpose: str) -> bool:
    p = purpose.lower()
    return any(p.startswith(w) or w in p for w in APPRAISAL_WORDS)


def _user(cfg: VaultConfig, name: str) -> User:
    user = cfg.users.get(name)
    if user is None:
        raise Refused(f"unknown user {name!r}", code="unknown_user", user=name)
    return user


def authorize_view(cfg: VaultConfig, rec: Recording | None, user_name: str, purpose: str,
                   case: str | None) -> Grant:
    if purpose not in PURPOSES:
        if _looks_like_appraisal(purpose):
            raise Refused(NO_APPRAISAL, code="appraisal")
        raise Refused(f"unknown purpose {purpose!r}", code="unknown_purpose", purpose=purpose)
    user = _user(cfg, user_name)
    if rec is None or rec.state != "catalogued":
        if rec is None:
            raise Refused("no such recording in the vault", code="no_recording")
        raise Refused(f"recording is {rec.state}", code="recording_state", state=rec.state)
    if rec.tag == "learning" and purpose != "learning":
        raise Refused("learning footage opens only for learning; it is never used as evidence or for complaints",
                      code="learning_only")
    if purpose == "learning":
        if rec.tag != "learning":
            raise Refused("only footage tagged for learning, with the filmed person's consent, is used for learning",
                          code="not_learning_footage")
        if not (rec.consent or {}).get("given"):
            raise Refused("the filmed person did not consent to learning use", code="no_consent")
        if user.personnel_number and user.personnel_number == rec.wearer_id:
            return Grant(user=user, via="wearer")
    elif not case:
        raise Refused(f"purpose {purpose} needs a case or request number (--case)", code="needs_case", purpose=purpose)
    for role in cfg.roles_of(user):
        if purpose in role.purposes:
            return Grant(user=user, via=role.name)
    if purpose == "learning":
        raise Refused("learning footage opens only for its wearer and roles allowed learning", code="learning_roles")
    roles = ", ".join(user.roles)
    raise Refused(f"none of {user.name}'s roles ({roles or 'none'}) allows purpose {purpose}",
                  code="purpose_not_allowed", user=user.name, roles=roles, purpose=purpose)


def purposes_for(cfg: VaultConfig, rec: Recording | None, user_name: str) -> list[str]:
    """The purposes ``user_name`` could open ``rec`` for (a case number given where one is needed),
    by the same rules as :func:`authorize_view`; empty: the user may not open it at all."""
    allowed = []
    for purpose in PURPOSES:
        try:
            authorize_view(cfg, rec, user_name, purpose, "-")
        except Refused:
            continue
        allowed.append(purpose)
    return allowed


def may_find(cfg: VaultConfig, rec: Recording | None, user_name: str) -> bool:
    """Whether the portal shows ``rec`` to the user at all: they could open it, or their roles act
    on it (hold or transfer evidence and uncategorised footage, withdraw learning footage). A
    coach thus never sees evidence, not even that it exists."""
    if rec is None or rec.state != "catalogued":
        return False
    if purposes_for(cfg, rec, user_name):
        return True
    user = cfg.users.get(user_name)
    if user is None:
        return False
    actions = {a for role in cfg.roles_of(user) for a in role.actions}
    if rec.tag == "learning":
        return "withdraw" in actions
    return bool(actions & {"hold", "release", "close_case", "transfer"})


def authorize_action(cfg: VaultConfig, user_name: str, action: str) -> Grant:
    user = _user(cfg, user_name)
    for role in cfg.roles_of(user):
        if action in role.actions:
            return Grant(user=user, via=role.name)
    roles = ", ".join(user.roles)
    raise Refused(f"none of {user.name}'s roles ({roles or 'none'}) may {action.replace('_', ' ')}",
                  code="action_not_allowed", user=user.name, roles=roles, action=action)


def log_refusal(cat: Catalog, who: str, what: str, reason: str, **details: object) -> None:
    cat.log(ACCESS).append(who=who, what=what, why=reason, result="refused", details=details)


def _private_file(folder: Path, name: str) -> tuple[Path, BinaryIO]:
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)
    path = folder / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    return path, os.fdopen(fd, "wb")


def open_view(cfg: VaultConfig, cat: Catalog, rec_id: str, *, purpose: str, case: str | None, user_name: str,
              channel: str | None = None) -> tuple[Recording, Grant, dict[str, object]]:
    """Authorize a viewing and write it to the access log (fsynced); nothing is decrypted yet.
    A refusal is logged and raised. The command line's ``view`` and the portal both start here."""
    rec = cat.recording(rec_id)
    try:
        grant = authorize_view(cfg, rec, user_name, purpose, case)
    except Refused as exc:
        log_refusal(cat, user_name, "view.refused", str(exc), recording=rec_id, purpose=purpose, case=case)
        raise
    assert rec is not None
    details: dict[str, object] = {"recording": rec_id, "purpose": purpose, "case": case, "via": grant.via,
                                  "station": rec.station, "sha256": rec.sha256}
    if channel is not None:
        details["channel"] = channel
    entry = cat.log(ACCESS).append(who=grant.user.name, what="view.opened", why=purpose, result="granted",
                                   details=details)
    crash_point("view.logged")
    return rec, grant, entry


def view(cfg: VaultConfig, cat: Catalog, identities: Sequence[X25519PrivateKey], rec_id: str, *, purpose: str,
         case: str | None, user_name: str, consume: Callable[[Path], object] | None = None,
         stream: BinaryIO | None = None) -> dict[str, object]:
    """Open a recording for ``purpose``. With ``stream`` the plaintext goes there; otherwise to a
    private file handed to ``consume`` and removed when it returns. Returns the log entry."""
    rec, grant, entry = open_view(cfg, cat, rec_id, purpose=purpose, case=case, user_name=user_name)
    plain = hashlib.sha256()
    ok = False
    path: Path | None = None
    try:
        with open_store(cfg).open(rec.payload_path) as src:
            if stream is not None:
                def sink(b: bytes) -> None:
                    plain.update(b)
                    stream.write(b)
                agedecrypt.decrypt(src, identities, sink)
                stream.flush()
            else:
                path, out = _private_file(cfg.views_dir(), f"{rec_id}-{entry['seq']}{_ext(rec.payload_path)}")
                with out:
                    def sink(b: bytes) -> None:
                        plain.update(b)
                        out.write(b)
                    agedecrypt.decrypt(src, identities, sink)
        if plain.hexdigest() != rec.sha256:
            raise agedecrypt.AgePayloadError("decrypted footage does not match the catalogued SHA-256")
        ok = True
        if path is not None and consume is not None:
            consume(path)
    except (OSError, agedecrypt.AgeError) as exc:
        cat.log(ACCESS).append(who=grant.user.name, what="view.failed", why=str(exc), result="failed",
                               details={"recording": rec_id, "opened": entry["seq"]})
        raise
    finally:
        if path is not None:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
    if ok:
        cat.log(ACCESS).append(who=grant.user.name, what="view.closed", why=purpose,
                               details={"recording": rec_id, "opened": entry["seq"], "file_removed": path is not None})
    return entry


def _ext(payload_path: str) -> str:
    name = Path(payload_path).name
    return name.removesuffix(".age")[name.find(".") :] if "." in name.removesuffix(".age") else ""


# --- holds and cases ---------------------------------------------------------------------


def hold(cfg: VaultConfig, cat: Catalog, rec_id: str, *, case: str, reason: str, user_name: str) -> int:
    """A legal hold without end date; returns its id."""
    try:
        grant = authorize_action(cfg, user_name, "hold")
        rec = cat.recording(rec_id)
        if rec is None or rec.state != "catalogued":
            raise Refused("no such recording in the vault", code="no_recording")
        if not case.strip() or not reason.strip():
            raise Refused("a hold needs a case number and a reason", code="hold_needs_case_and_reason")
    except Refused as exc:
        log_refusal(cat, user_name, "hold.refused", str(exc), recording=rec_id, case=case)
        raise
    now = iso(utcnow())
    with cat.tx() as db:
        hid = int(db.execute("INSERT INTO holds(recording_id, case_number, reason, placed_by, placed_at) "
                             "VALUES (?,?,?,?,?)", (rec_id, case, reason, grant.user.name, now)).lastrowid or 0)
        Catalog.queue_log(db, ACCESS, f"hold:{hid}", who=grant.user.name, what="hold.placed", why=reason,
                          details={"recording": rec_id, "case": case, "hold": hid, "via": grant.via})
    cat.flush_logs()
    _store_hold(cfg, cat, rec.payload_path, rec.manifest_path, on=True)
    return hid


def _store_hold(cfg: VaultConfig, cat: Catalog, *rels: str, on: bool) -> None:
    """The bucket's own legal hold follows the catalog's (committed first). If the bucket cannot
    be reached now, the catalog hold already keeps the sweep away and reconcile sets it later."""
    if cfg.bucket is None:
        return
    store = open_store(cfg)
    try:
        for rel in rels:
            store.set_hold(rel, on)
    except StoreError as exc:
        with cat.tx() as db:
            cat.alert(db, "hold-sync", rels[0], f"legal hold {'on' if on else 'off'} not set in the bucket: {exc}",
                      iso(utcnow()))


def release(cfg: VaultConfig, cat: Catalog, hold_id: int, *, reason: str, user_name: str) -> None:
    try:
        grant = authorize_action(cfg, user_name, "release")
        row = cat.one("SELECT * FROM holds WHERE id=? AND released_at IS NULL", (hold_id,))
        if row is None:
            raise Refused(f"no active hold {hold_id}", code="no_active_hold", hold=str(hold_id))
    except Refused as exc:
        log_refusal(cat, user_name, "hold.release_refused", str(exc), hold=hold_id)
        raise
    now = iso(utcnow())
    with cat.tx() as db:
        db.execute("UPDATE holds SET released_by=?, released_at=?, release_reason=? WHERE id=?",
                   (grant.user.name, now, reason, hold_id))
        Catalog.queue_log(db, ACCESS, f"release:{hold_id}", who=grant.user.name, what="hold.released", why=reason,
                          details={"recording": row["recording_id"], "case": row["case_number"], "hold": hold_id})
    cat.flush_logs()
    rec = cat.recording(row["recording_id"])
    if rec is not None and rec.state == "catalogued" and not cat.active_holds(rec.id):
        _store_hold(cfg, cat, rec.payload_path, rec.manifest_path, on=False)


def close_case(cfg: VaultConfig, cat: Catalog, case: str, *, user_name: str) -> int:
    """Evidence of a closed case gets its deadline; returns how many recordings."""
    try:
        grant = authorize_action(cfg, user_name, "close_case")
    except Refused as exc:
        log_refusal(cat, user_name, "case.close_refused", str(exc), case=case)
        raise
    now = iso(utcnow())
    with cat.tx() as db:
        db.execute("INSERT OR IGNORE INTO cases(case_number, closed_at, closed_by) VALUES (?,?,?)",
                   (case, now, grant.user.name))
        Catalog.queue_log(db, ACCESS, f"case.close:{case}", who=grant.user.name, what="case.closed",
                          details={"case": case})
    cat.flush_logs()
    return recompute_case(cat, cfg.retention, case)
