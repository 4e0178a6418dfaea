"""Transfer packages for police and OM (the *overdrachtsformulier*).

Police and OM may not simply claim footage: the municipality hands it over voluntarily, with a
form. A package holds the original recordings byte-exact (optionally encrypted to the
recipient's age key), the dock's signed manifests, and the form: RFC 8785 canonical JSON signed
with the vault's own Ed25519 key (format version 1), the same fields as a printable HTML page,
and a ``SHA256SUMS`` file that ``sha256sum -c`` checks. Learning footage is never transferred.

``verify_package`` is what the receiving party runs; the test suite also checks a package with
nothing but ``sha256sum`` and a few lines of ``cryptography`` + ``rfc8785``.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import posixpath
import shutil
import uuid
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from station.crypto.agecrypt import AgeEncryptor
from station.crypto.canonical import canonical_json
from station.crypto.keys import parse_age_recipient, parse_public_key_text, public_key_text
from station.crypto.signed import ManifestError, key_fingerprint, open_manifest
from station.timeutil import iso, parse_iso, utcnow
from vault import agedecrypt
from vault.access import Refused, authorize_action, log_refusal
from vault.catalog import ACCESS, Catalog
from vault.config import VaultConfig
from vault.store import VaultStore
from vault.stores import open_store
from vault.trust import pinned_key

FORM_KIND = "bodydock-transfer-form"
FORM_VERSION = 1
FORM_JSON = "transfer-form.json"
FORM_HTML = "transfer-form.html"
SUMS = "SHA256SUMS"


def sign_form(body: dict[str, Any], key: Ed25519PrivateKey) -> bytes:
    body = {**body, "kind": FORM_KIND, "format_version": FORM_VERSION}
    sig = key.sign(canonical_json(body))
    doc = {"form": body, "signature": {"alg": "ed25519", "key": public_key_text(key), "fingerprint":
                                       key_fingerprint(key), "value": base64.b64encode(sig).decode("ascii")}}
    return canonical_json(doc) + b"\n"


def _ext(payload_path: str) -> str:
    name = Path(payload_path).name.removesuffix(".age")
    return name[name.find(".") :] if "." in name else ""


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while buf := fh.read(1 << 20):
            h.update(buf)
    return h.hexdigest()


def make_package(cfg: VaultConfig, cat: Catalog, identities: Sequence[X25519PrivateKey], signing_key: Ed25519PrivateKey,
                 rec_ids: Sequence[str], *, to: str, basis: str, case: str, user_name: str,
                 recipient: str | None = None, out_dir: Path | None = None) -> Path:
    """Build a package; returns its folder."""
    try:
        grant = authorize_action(cfg, user_name, "transfer")
        if not to.strip() or not basis.strip() or not case.strip():
            raise Refused("a transfer needs a recipient (--to), a legal basis (--basis) and a case number (--case)",
                          code="transfer_needs_form")
        if recipient is not None:
            try:
                parse_age_recipient(recipient)
            except ValueError as exc:
                raise Refused(f"recipient key: {exc}", code="transfer_bad_key", error=str(exc)) from None
        recs = []
        for rid in dict.fromkeys(rec_ids):
            rec = cat.recording(rid)
            if rec is None or rec.state != "catalogued":
                raise Refused(f"{rid}: no such recording in the vault", code="no_recording")
            if rec.tag == "learning":
                raise Refused(f"{rid}: learning footage is never handed over (it is not evidence)",
                              code="transfer_learning", recording=rid)
            recs.append(rec)
        if not recs:
            raise Refused("no recordings named", code="transfer_nothing")
    except Refused as exc:
        log_refusal(cat, user_name, "transfer.refused", str(exc), recordings=list(rec_ids), to=to, case=case)
        raise
    package_id = f"{iso(utcnow())[:10]}-{case.replace('/', '_').replace(' ', '_')}-{uuid.uuid4().hex[:8]}"
    # The hand-over is an access: logged before anything is decrypted.
    cat.log(ACCESS).append(who=grant.user.name, what="transfer.opened", why=basis, result="granted",
                           details={"recordings": [r.id for r in recs], "to": to, "case": case, "via": grant.via,
                                    "package": package_id, "encrypted_to": recipient})
    root = (out_dir or cfg.exports_dir) / package_id
    root.mkdir(parents=True, mode=0o700)
    try:
        files: list[dict[str, Any]] = []
        entries: list[dict[str, Any]] = []
        (root / "recordings").mkdir()
        (root / "manifests").mkdir()
        store = open_store(cfg)
        for rec in recs:
            name = f"recordings/{rec.id}{_ext(rec.payload_path)}" + (".age" if recipient else "")
            _export_footage(store, rec.payload_path, root / name, identities, rec.sha256, recipient)
            files.append({"path": name, "sha256": _sha256_file(root / name), "size": (root / name).stat().st_size,
                          "kind": "recording", "recording_id": rec.id})
            mrow = cat.one("SELECT document FROM manifests WHERE recording_id=? AND sha256=?",
                           (rec.id, rec.manifest_sha256))
            assert mrow is not None
            mname = f"manifests/{rec.id}.manifest.json"
            (root / mname).write_bytes(bytes(mrow["document"]))
            files.append({"path": mname, "sha256": rec.manifest_sha256, "size": len(mrow["document"]),
                          "kind": "manifest", "recording_id": rec.id})
            key = pinned_key(cat, rec.station)
            entries.append({"recording_id": rec.id, "station": rec.station,
                            "station_key_fingerprint": key_fingerprint(key) if key else None,
                            "camera_serial": rec.camera_serial, "started_at": rec.started_at,
                            "ended_at": rec.ended_at, "tag": rec.tag, "case_number": rec.case_number,
                            "sha256": rec.sha256, "size": rec.size, "manifest_sha256": rec.manifest_sha256})
        now = utcnow()
        user = grant.user
        body = {
            "package_id": package_id, "created_at": iso(now),
            "vault": {"id": cfg.id, "organisation": cfg.name},
            "handed_over_by": {"user": user.name, "name": user.full_name or user.name, "role": grant.via},
            "to": to, "legal_basis": basis, "case_number": case,
            "encrypted_to": recipient, "recordings": entries, "files": files,
        }
        form = sign_form(body, signing_key)
        (root / FORM_JSON).write_bytes(form)
        (root / FORM_HTML).write_text(render_html(json.loads(form)), "utf-8")
        listed = [*files, {"path": FORM_JSON, "sha256": hashlib.sha256(form).hexdigest()},
                  {"path": FORM_HTML, "sha256": _sha256_file(root / FORM_HTML)}]
        (root / SUMS).write_text("".join(f"{f['sha256']}  {f['path']}\n" for f in listed), "ascii")
        _fsync_tree(root)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        cat.log(ACCESS).append(who=grant.user.name, what="transfer.failed", result="failed",
                               details={"package": package_id})
        raise
    expires = iso(now + timedelta(days=cfg.retention.export_days))
    with cat.tx() as db:
        db.execute("INSERT INTO exports(id, path, recording_ids, created_at, expires_at, created_by, state) "
                   "VALUES (?,?,?,?,?,?,'present')", (package_id, str(root), json.dumps([r.id for r in recs]),
                                                      iso(now), expires, grant.user.name))
        Catalog.queue_log(db, ACCESS, f"transfer:{package_id}", who=grant.user.name, what="transfer.completed",
                          why=basis, details={"package": package_id, "to": to, "case": case,
                                              "form_sha256": hashlib.sha256(form).hexdigest()})
    cat.flush_logs()
    return root


def _export_footage(store: VaultStore, src: str, dst: Path, identities: Sequence[X25519PrivateKey], sha256: str,
                    recipient: str | None) -> None:
    plain = hashlib.sha256()
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as out, store.open(src) as fin:
        enc = AgeEncryptor([recipient], out.write) if recipient else None

        def sink(b: bytes) -> None:
            plain.update(b)
            if enc is not None:
                enc.update(b)
            else:
                out.write(b)

        agedecrypt.decrypt(fin, identities, sink)
        if enc is not None:
            enc.finish()
        out.flush()
        os.fsync(out.fileno())
    if plain.hexdigest() != sha256:
        raise agedecrypt.AgePayloadError(f"{posixpath.basename(src)} does not decrypt to its catalogued SHA-256")


def _fsync_tree(root: Path) -> None:
    for p in [*root.rglob("*"), root]:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def render_html(doc: dict[str, Any]) -> str:
    f = doc["form"]
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(r['recording_id'])}</td><td>{e(str(r['station']))}</td><td>{e(str(r['started_at']))}</td>"
        f"<td>{e(str(r['ended_at']))}</td><td><code>{e(r['sha256'])}</code></td></tr>" for r in f["recordings"])
    frows = "".join(f"<tr><td>{e(x['path'])}</td><td>{x['size']}</td><td><code>{e(x['sha256'])}</code></td></tr>"
                    for x in f["files"])
    by = f["handed_over_by"]
    enc = f"encrypted to {e(f['encrypted_to'])}" if f["encrypted_to"] else "not encrypted (hand over in person)"
    return f"""<!doctype html>
<html lang="nl"><head><meta charset="utf-8"><title>Overdrachtsformulier {e(f['package_id'])}</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #444;padding:4px 8px;text-align:left;font-size:10pt}} code{{font-size:9pt}}
@media print{{body{{margin:1cm}}}}</style></head><body>
<h1>Overdrachtsformulier beeldmateriaal / Transfer form</h1>
<table>
<tr><th>Package</th><td>{e(f['package_id'])}</td></tr>
<tr><th>Date / datum</th><td>{e(f['created_at'])}</td></tr>
<tr><th>Handed over by / verstrekt door</th><td>{e(by['name'])} ({e(by['user'])}, {e(by['role'])}),
 {e(f['vault']['organisation'])}</td></tr>
<tr><th>To / aan</th><td>{e(f['to'])}</td></tr>
<tr><th>Legal basis / grondslag</th><td>{e(f['legal_basis'])}</td></tr>
<tr><th>Case number / zaaknummer</th><td>{e(f['case_number'])}</td></tr>
<tr><th>Encryption</th><td>{enc}</td></tr>
<tr><th>Form format</th><td>{e(f['kind'])} v{f['format_version']}, RFC 8785 JSON, Ed25519</td></tr>
<tr><th>Signed by vault key</th><td><code>{e(doc['signature']['key'])}</code><br>
fingerprint <code>{e(doc['signature']['fingerprint'])}</code></td></tr>
</table>
<h2>Recordings / opnamen</h2>
<table><tr><th>Recording</th><th>Station</th><th>Start</th><th>End</th><th>SHA-256 (original)</th></tr>{rows}</table>
<h2>Files / bestanden</h2>
<table><tr><th>File</th><th>Bytes</th><th>SHA-256</th></tr>{frows}</table>
<p>Check: <code>sha256sum -c SHA256SUMS</code> and <code>bodydock-vault transfer verify &lt;package&gt;</code>.</p>
<p>Signature handed over / voor ontvangst: ______________________ &nbsp; Date: __________</p>
</body></html>
"""


def verify_package(root: Path, *, expect_key: str | None = None,
                   identities: Sequence[X25519PrivateKey] = ()) -> tuple[dict[str, Any] | None, list[str]]:
    """(form body, problems). No problems means the package is intact and signed as it says."""
    problems: list[str] = []
    try:
        doc = json.loads((root / FORM_JSON).read_bytes())
        form, sig = doc["form"], doc["signature"]
        key = parse_public_key_text(sig["key"])
        key.verify(base64.b64decode(sig["value"], validate=True), canonical_json(form))
    except (OSError, ValueError, KeyError, TypeError):
        return None, ["transfer form missing or malformed"]
    except InvalidSignature:
        return None, ["transfer form signature does not verify"]
    if form.get("kind") != FORM_KIND or form.get("format_version") != FORM_VERSION:
        problems.append(f"unknown form kind/version {form.get('kind')!r} {form.get('format_version')!r}")
    if expect_key is not None and public_key_text(key) != expect_key.strip() and \
            key_fingerprint(key).replace(" ", "") != expect_key.replace(" ", ""):
        problems.append("form is signed by another key than the expected vault key")
    listed = {FORM_JSON, FORM_HTML, SUMS}
    for f in form.get("files", []):
        path = root / f["path"]
        listed.add(f["path"])
        if not path.is_file():
            problems.append(f"{f['path']}: missing")
        elif path.stat().st_size != f["size"] or _sha256_file(path) != f["sha256"]:
            problems.append(f"{f['path']}: does not match the form (size or SHA-256)")
    extra = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    for name in extra:
        if name not in listed:
            problems.append(f"{name}: not listed on the form")
    try:
        sums: dict[str, str] = {}
        for line in (root / SUMS).read_text("ascii").splitlines():
            digest, name = line.split("  ", 1)
            sums[name] = digest
    except (OSError, ValueError):
        problems.append(f"{SUMS} missing or malformed")
    for f in form.get("files", []):
        if sums and sums.get(f["path"]) != f["sha256"]:
            problems.append(f"{SUMS} disagrees with the form for {f['path']}")
    for r in form.get("recordings", []):
        mpath = root / "manifests" / f"{r['recording_id']}.manifest.json"
        try:
            data = mpath.read_bytes()
            body = open_manifest(data)
            signer = key_fingerprint(parse_public_key_text(json.loads(data)["signature"]["key"]))
        except (OSError, ManifestError, ValueError, KeyError) as exc:
            problems.append(f"{r['recording_id']}: dock manifest does not verify ({exc})")
            continue
        if r.get("station_key_fingerprint") and signer != r["station_key_fingerprint"]:
            problems.append(f"{r['recording_id']}: manifest signed by another station key than the form names")
        if body.get("sha256") != r["sha256"] or body.get("station") != r["station"]:
            problems.append(f"{r['recording_id']}: form and dock manifest disagree")
        footage = next((f for f in form.get("files", []) if f.get("kind") == "recording"
                        and f.get("recording_id") == r["recording_id"]), None)
        if footage is None:
            problems.append(f"{r['recording_id']}: no footage file on the form")
        elif not form.get("encrypted_to") and footage["sha256"] != body.get("sha256"):
            problems.append(f"{r['recording_id']}: footage is not the original the dock signed")
        elif form.get("encrypted_to") and identities and (root / footage["path"]).is_file():
            h = hashlib.sha256()
            try:
                with (root / footage["path"]).open("rb") as fh:
                    agedecrypt.decrypt(fh, identities, h.update)
            except agedecrypt.AgeError as exc:
                problems.append(f"{r['recording_id']}: cannot decrypt ({exc})")
            else:
                if h.hexdigest() != body.get("sha256"):
                    problems.append(f"{r['recording_id']}: decrypted footage is not the original the dock signed")
    try:
        parse_iso(str(form.get("created_at")))
    except ValueError:
        problems.append("form has no valid date")
    return form, problems

