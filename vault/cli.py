"""The ``bodydock-vault`` command: runs on the municipality's vault host, never on a dock."""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import shlex
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vault.config import VaultConfig, VaultConfigError, load_config

DEFAULT_CONFIG = Path(os.environ.get("BODYDOCK_VAULT_CONFIG", "/etc/bodydock-vault/vault.yaml"))
log = logging.getLogger("bodydock-vault")


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, sort_keys=True, default=str))


def _open(cfg: VaultConfig) -> Any:
    from vault.catalog import open_catalog
    from vault.withdraw import recover

    cat = open_catalog(cfg.state_dir)
    cat.flush_logs()
    recover(cfg, cat)  # an interrupted withdrawal is finished before anything else
    return cat


def _identities(cfg: VaultConfig) -> Any:
    from vault.intake import load_identities

    return load_identities(cfg.identity_file)


# --- commands ----------------------------------------------------------------------------


def cmd_station(cfg: VaultConfig, args: argparse.Namespace) -> int:
    from vault.trust import TrustError, add_station, remove_station, stations

    cat = _open(cfg)
    try:
        if args.station_command == "add":
            fp = add_station(cat, args.id, args.key, by=args.by, fingerprint=args.fingerprint, note=args.note)
            print(f"station {args.id} registered; key fingerprint {fp}")
        elif args.station_command == "remove":
            remove_station(cat, args.id, by=args.by, reason=args.reason)
            print(f"station {args.id} removed from the trust store")
        else:
            rows = stations(cat)
            if args.json:
                _print_json(rows)
            for r in [] if args.json else rows:
                print(f"{r['id']:<24} {r['fingerprint']}  added {r['added_at']} by {r['added_by']}")
    except TrustError as exc:
        print(f"bodydock-vault: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_intake(cfg: VaultConfig, args: argparse.Namespace) -> int:
    from vault.intake import Intake

    cat = _open(cfg)
    intake = Intake(cfg, cat, _identities(cfg))
    stop = threading.Event()
    if not args.once:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    while True:
        summary = intake.run_once()
        if args.json:
            _print_json(summary.to_json())
        elif args.once or summary.accepted or summary.quarantined or summary.retagged or summary.segments:
            print(f"intake: {summary.accepted} accepted, {summary.retagged} re-tagged, {summary.segments} audit "
                  f"segments, {summary.quarantined} quarantined, {summary.unchanged} already known", flush=True)
            for reason in summary.reasons:
                print(f"  quarantined {reason}", flush=True)
        if args.once or stop.wait(cfg.intake_interval_s):
            return 1 if summary.quarantined else 0


def cmd_reconcile(cfg: VaultConfig, args: argparse.Namespace) -> int:
    from vault.reconcile import reconcile

    reports = reconcile(cfg, _open(cfg), deep=args.deep)
    if args.json:
        _print_json([r.to_json() for r in reports])
    else:
        for r in reports:
            print(f"{r.station}: {'OK' if r.ok else 'PROBLEMS'}; {r.in_vault} in the vault, {r.audit_offloads} in the "
                  f"dock's audit ({r.segments} segments, chain {'intact' if r.chain_ok else 'BROKEN'}); "
                  f"missing {len(r.missing)}, unexpected {len(r.unexpected)}, awaiting audit {len(r.awaiting_audit)}")
            for p in r.chain_problems:
                print(f"  chain: {p}")
            for m in r.missing:
                print(f"  missing: {m['recording']} ({m['why']})")
            for u in r.unexpected:
                print(f"  unexpected: {u}")
    return 0 if all(r.ok for r in reports) else 1


def _refusal(exc: Exception) -> int:
    print(f"bodydock-vault: refused: {exc}", file=sys.stderr)
    return 3


def cmd_search(cfg: VaultConfig, args: argparse.Namespace) -> int:
    from vault.access import Refused, log_refusal
    from vault.catalog import ACCESS
    from vault.search import Query, explain, search

    cat = _open(cfg)
    q = Query(date_from=args.date_from, date_to=args.date_to, station=args.station, wearer=args.wearer,
              tag=args.tag, case=args.case, limit=args.limit)
    if args.user not in cfg.users:
        log_refusal(cat, args.user, "search.refused", "unknown user", query=q.to_json())
        return _refusal(Refused(f"unknown user {args.user!r}"))
    cat.log(ACCESS).append(who=args.user, what="search", details={"query": q.to_json()})
    rows = search(cat, q)
    if args.explain:
        for line in explain(cat, q):
            print(f"plan: {line}")
    if args.json:
        _print_json(rows)
        return 0
    for r in rows:
        dur = f"{r['duration_s']:.0f}s" if r["duration_s"] is not None else "-"
        print(f"{r['id']}  {r['station']}  {r['started_at'] or '-'}  {dur:>6}  {r['tag']:<13} "
              f"case {r['case_number'] or '-'}  wearer {r['wearer_id'] or '-'}{'  HELD' if r['held'] else ''}")
    return 0


def cmd_view(cfg: VaultConfig, args: argparse.Namespace) -> int:
    from vault.access import Refused, view

    cat = _open(cfg)
    ids = _identities(cfg)
    consume: Callable[[Path], object] | None = None
    if args.player:
        def consume(path: Path) -> object:
            return subprocess.run([*shlex.split(args.player), str(path)], check=False)
    else:
        def consume(path: Path) -> object:
            print(f"decrypted to {path} (mode 0600); press Enter when done to remove it", file=sys.stderr)
            sys.stdin.readline()
            return None
    try:
        if args.stdout:
            entry = view(cfg, cat, ids, args.id, purpose=args.purpose, case=args.case, user_name=args.user,
                         stream=sys.stdout.buffer)
        else:
            entry = view(cfg, cat, ids, args.id, purpose=args.purpose, case=args.case, user_name=args.user,
                         consume=consume)
    except Refused as exc:
        return _refusal(exc)
    print(f"access logged as entry {entry['seq']}; the decrypted file has been removed", file=sys.stderr)
    return 0


def cmd_log(cfg: VaultConfig, args: argparse.Namespace) -> int:
    from vault.accesslog import verify
    from vault.catalog import ACCESS, AUDIT

    cat = _open(cfg)
    bad = 0
    for name, path in ((ACCESS, cfg.access_log_path), (AUDIT, cfg.audit_log_path)):
        result = verify(path, cat.anchor(name))
        print(f"{path}: {result.entries} entries, " + ("chain intact" if result.ok else f"BROKEN: {result.problem}"))
        bad += not result.ok
    return 1 if bad else 0


def cmd_hold(cfg: VaultConfig, args: argparse.Namespace) -> int:
    from vault.access import Refused, hold

    try:
        hid = hold(cfg, _open(cfg), args.id, case=args.case, reason=args.reason, user_name=args.user)
    except Refused as exc:
        return _refusal(exc)
    print(f"hold {hid} placed on {args.id} (case {args.case})")
    return 0


def cmd_release(cfg: VaultConfig, args: argparse.Namespace) -> int:
    from vault.access import Refused, release

    try:
        release(cfg, _open(cfg), args.hold_id, reason=args.reason, user_name=args.user)
    except Refused as exc:
        return _refusal(exc)
    print(f"hold {args.hold_id} released")
    return 0


def cmd_case(cfg: VaultConfig, args: argparse.Namespace) -> int:
    from vault.access import Refused, close_case

    try:
        n = close_case(cfg, _open(cfg), args.case, user_name=args.user)
    except Refused as exc:
        return _refusal(exc)
    print(f"case {args.case} closed; {n} evidence recordings now have a retention deadline")
    return 0


def cmd_retention(cfg: VaultConfig, args: argparse.Namespace) -> int:
    from vault.retention import sweep
    from vault.stores import open_store

    report = sweep(_open(cfg), open_store(cfg), batch_size=args.batch_size)
    if args.json:
        _print_json(report.to_json())
        return 0
    print(f"retention sweep: {len(report.deleted)} deleted, {len(report.kept_on_hold)} past their deadline but "
          f"held, {len(report.exports_removed)} expired transfer packages removed")
    for d in report.deleted:
        print(f"  deleted {d['id']} ({d['station']}, {d['tag']}): {d['reason']}, deadline {d['retention_until']}")
    for h in report.kept_on_hold:
        print(f"  kept {h['id']}: hold for case {h['case_number']} ({h['reason']})")
    return 0


def cmd_withdraw(cfg: VaultConfig, args: argparse.Namespace) -> int:
    from vault.access import Refused
    from vault.withdraw import receipt_text, withdraw

    try:
        receipt = withdraw(cfg, _open(cfg), args.id, consent_ref=args.consent_ref, user_name=args.user)
    except Refused as exc:
        return _refusal(exc)
    if args.json:
        _print_json(receipt)
    else:
        print(receipt_text(receipt), end="")
    return 0


def cmd_transfer(cfg: VaultConfig, args: argparse.Namespace) -> int:
    from vault.access import Refused
    from vault.transfer import make_package, verify_package

    if args.ids and args.ids[0] == "verify":
        if len(args.ids) != 2:
            print("usage: bodydock-vault transfer verify PACKAGE", file=sys.stderr)
            return 2
        from vault.intake import load_identities

        ids = load_identities(args.identity) if args.identity else []
        form, problems = verify_package(Path(args.ids[1]), expect_key=args.key, identities=ids)
        for p in problems:
            print(f"FAILED: {p}")
        if form is not None and not problems:
            print(f"package {form['package_id']} intact: {len(form['files'])} files match the form, signed by "
                  f"{form['vault']['organisation']}; handed over by {form['handed_over_by']['name']} to {form['to']}, "
                  f"case {form['case_number']}, basis: {form['legal_basis']}")
        return 1 if problems else 0
    if not (args.to and args.basis and args.case and args.user):
        print("bodydock-vault transfer: --to, --basis, --case and --as are required", file=sys.stderr)
        return 2
    from station.crypto.keys import load_signing_key

    key = load_signing_key(cfg.signing_key)
    try:
        root = make_package(cfg, _open(cfg), _identities(cfg), key, args.ids, to=args.to, basis=args.basis,
                            case=args.case, user_name=args.user, recipient=args.recipient, out_dir=args.out)
    except Refused as exc:
        return _refusal(exc)
    print(f"transfer package written to {root}")
    return 0


def cmd_keygen(cfg: VaultConfig | None, args: argparse.Namespace) -> int:
    from station.crypto.keys import generate_age_identity, generate_signing_key

    try:
        if args.identity:
            recipient = generate_age_identity(args.identity)
            print(f"vault identity written to {args.identity} (mode 0600); docks list this recipient in "
                  f"vault.recipients: {recipient}")
        if args.signing_key:
            print(f"vault signing key written to {args.signing_key} (mode 0600); public key "
                  f"{generate_signing_key(args.signing_key)}")
    except FileExistsError as exc:
        print(f"bodydock-vault keygen: refusing to overwrite {exc.filename}", file=sys.stderr)
        return 1
    return 0


def cmd_dpia(cfg: VaultConfig, args: argparse.Namespace) -> int:
    from config.loader import ConfigError
    from config.loader import load_config as load_dock_config
    from vault.dpia import render_markdown, render_pdf

    docks = []
    for path in args.dock_config:
        try:
            docks.append(load_dock_config(path, check_files=False))
        except ConfigError as exc:
            print(f"bodydock-vault: dock config: {exc}", file=sys.stderr)
            return 2
    md = render_markdown(cfg, docks)
    if args.out:
        args.out.write_text(md, "utf-8")
        print(f"DPIA annex written to {args.out}")
    else:
        print(md)
    if args.pdf:
        if render_pdf(md, args.pdf):
            print(f"PDF written to {args.pdf}")
        else:
            print("no PDF renderer (headless Chromium) found; Markdown only", file=sys.stderr)
    return 0


def cmd_quarantine(cfg: VaultConfig, args: argparse.Namespace) -> int:
    cat = _open(cfg)
    rows = [dict(r) for r in cat.all("SELECT id, station, recording_id, manifest_path, reason, at, state, folder "
                                     "FROM quarantine ORDER BY id")]
    if args.json:
        _print_json(rows)
    for r in [] if args.json else rows:
        print(f"{r['id']:>5}  {r['at']}  {r['manifest_path']}: {r['reason']}")
    return 0


def cmd_alerts(cfg: VaultConfig, args: argparse.Namespace) -> int:
    cat = _open(cfg)
    rows = [dict(r) for r in cat.all("SELECT * FROM alerts WHERE acked_at IS NULL ORDER BY id")]
    if args.json:
        _print_json(rows)
    for r in [] if args.json else rows:
        print(f"{r['id']:>5}  {r['at']}  {r['kind']}: {r['subject']}: {r['message']}")
    return 0


def _portal_password(args: argparse.Namespace) -> str:
    from station.crypto.keys import read_secret_file

    if args.password_file:
        return read_secret_file(args.password_file).decode("utf-8").rstrip("\r\n")
    first = getpass.getpass("new portal password: ")
    if getpass.getpass("again: ") != first:
        raise ValueError("the two passwords differ")
    return first


def cmd_portal(cfg: VaultConfig, args: argparse.Namespace) -> int:
    from vault.portal.accounts import AccountError, Accounts

    if cfg.portal is None:
        print("bodydock-vault portal: the vault config has no portal section (cert_file, key_file)", file=sys.stderr)
        return 2
    if args.portal_command == "serve":
        from vault.portal.server import serve

        try:
            return serve(cfg, host=args.host, port=args.port)
        except (FileNotFoundError, ValueError) as exc:
            print(f"bodydock-vault portal: {exc}", file=sys.stderr)
            return 2
    if args.portal_command == "selfsigned-cert":
        from vault.portal.selfsigned import make_self_signed

        try:
            make_self_signed(cfg.portal.cert_file, cfg.portal.key_file, names=tuple(args.name or ("localhost",
                                                                                                   "127.0.0.1")))
        except FileExistsError as exc:
            print(f"bodydock-vault portal: refusing to overwrite {exc.filename}", file=sys.stderr)
            return 1
        print(f"self-signed certificate {cfg.portal.cert_file}, key {cfg.portal.key_file} (mode 0600)")
        return 0
    accounts = Accounts(cfg.portal.accounts_dir, max_failures=cfg.portal.max_failures, lockout_s=cfg.portal.lockout_s)
    name = args.name
    if name not in cfg.users:
        print(f"bodydock-vault portal: {name!r} is not a user in the vault config", file=sys.stderr)
        return 2
    try:
        if args.user_command == "add":
            accounts.create(name, _portal_password(args))
            print(f"portal account for {name} created; next: bodydock-vault portal user enroll-totp {name}")
        elif args.user_command == "set-password":
            accounts.set_password(name, _portal_password(args))
            print(f"password of {name} changed")
        elif args.user_command == "enroll-totp":
            from vault.portal.totp import otpauth_uri

            secret = accounts.enroll_totp(name)
            # Shown this once (scan it into the authenticator app); it is kept only in the account file.
            print(otpauth_uri(secret, account=name, issuer=f"bodydock-vault {cfg.id}"))
        else:
            accounts.unlock(name)
            print(f"account {name} unlocked")
    except (AccountError, ValueError) as exc:
        print(f"bodydock-vault portal: {exc}", file=sys.stderr)
        return 1
    return 0


# --- parser ------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bodydock-vault",
                                description="The vault side of bodydock (runs on the vault host)")
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    def user(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--as", dest="user", required=True, help="your user name in the vault config")

    st = sub.add_parser("station", help="the trust store: registered docks and their keys")
    stsub = st.add_subparsers(dest="station_command", required=True)
    add = stsub.add_parser("add", help="pin a dock's public key (from `bodydock identity`)")
    add.add_argument("id")
    add.add_argument("--key", required=True, help="ed25519:... as the dock prints it")
    add.add_argument("--fingerprint", help="the fingerprint the dock shows; must match the key")
    add.add_argument("--note", default="")
    add.add_argument("--by", default=getpass.getuser())
    rm = stsub.add_parser("remove")
    rm.add_argument("id")
    rm.add_argument("--reason", required=True)
    rm.add_argument("--by", default=getpass.getuser())
    ls = stsub.add_parser("list")
    ls.add_argument("--json", action="store_true")
    st.set_defaults(fn=cmd_station)

    it = sub.add_parser("intake", help="verify and catalogue new deliveries (a service; --once for one pass)")
    it.add_argument("--once", action="store_true")
    it.add_argument("--json", action="store_true")
    it.set_defaults(fn=cmd_intake)

    rc = sub.add_parser("reconcile", help="the vault against each dock's signed audit: missing and unexpected")
    rc.add_argument("--deep", action="store_true", help="re-hash every file instead of checking its size")
    rc.add_argument("--json", action="store_true")
    rc.set_defaults(fn=cmd_reconcile)

    se = sub.add_parser("search", help="find recordings by metadata (no footage is shown)")
    se.add_argument("--from", dest="date_from")
    se.add_argument("--to", dest="date_to")
    se.add_argument("--station")
    se.add_argument("--wearer", help="personnel number")
    se.add_argument("--tag", choices=("evidence", "learning", "uncategorised"))
    se.add_argument("--case")
    se.add_argument("--limit", type=int, default=100)
    se.add_argument("--json", action="store_true")
    se.add_argument("--explain", action="store_true", help="show SQLite's query plan")
    user(se)
    se.set_defaults(fn=cmd_search)

    vw = sub.add_parser("view", help="open a recording for a purpose (logged before decryption)")
    vw.add_argument("id")
    vw.add_argument("--purpose", required=True, help="complaint, police_report, om_request, subject_request, learning")
    vw.add_argument("--case")
    user(vw)
    out = vw.add_mutually_exclusive_group()
    out.add_argument("--player", help="command that plays the decrypted file (it is removed afterwards)")
    out.add_argument("--stdout", action="store_true", help="stream the footage to stdout (pipe it to a player)")
    vw.set_defaults(fn=cmd_view)

    lg = sub.add_parser("log", help="the vault's logs")
    lgsub = lg.add_subparsers(dest="log_command", required=True)
    lgsub.add_parser("verify", help="check the access log's and the vault audit log's hash chains")
    lg.set_defaults(fn=cmd_log)

    ho = sub.add_parser("hold", help="place a legal hold (no end date)")
    ho.add_argument("id")
    ho.add_argument("--case", required=True)
    ho.add_argument("--reason", required=True)
    user(ho)
    ho.set_defaults(fn=cmd_hold)

    rl = sub.add_parser("release", help="release a legal hold")
    rl.add_argument("hold_id", type=int)
    rl.add_argument("--reason", required=True)
    user(rl)
    rl.set_defaults(fn=cmd_release)

    cs = sub.add_parser("case", help="cases: `case close N` starts the retention of its evidence")
    cssub = cs.add_subparsers(dest="case_command", required=True)
    cc = cssub.add_parser("close")
    cc.add_argument("case")
    user(cc)
    cs.set_defaults(fn=cmd_case)

    rt = sub.add_parser("retention", help="delete what expired and is not held; prints a deletion report")
    rt.add_argument("--json", action="store_true")
    rt.add_argument("--batch-size", type=int, default=2000, help="recordings per journaled step")
    rt.set_defaults(fn=cmd_retention)

    wd = sub.add_parser("withdraw", help="consent withdrawn: delete a learning recording, print a receipt")
    wd.add_argument("id")
    wd.add_argument("--consent-ref", required=True)
    wd.add_argument("--json", action="store_true")
    user(wd)
    wd.set_defaults(fn=cmd_withdraw)

    tr = sub.add_parser("transfer", help="make a transfer package for police/OM; `transfer verify PKG` checks one")
    tr.add_argument("ids", nargs="+", metavar="ID", help="recording ids, or: verify PACKAGE")
    tr.add_argument("--to")
    tr.add_argument("--basis", help="the legal basis of the hand-over")
    tr.add_argument("--case")
    tr.add_argument("--as", dest="user")
    tr.add_argument("--recipient", help="encrypt the footage to this age public key (age1...)")
    tr.add_argument("--out", type=Path, help="where to write the package (default: state_dir/exports)")
    tr.add_argument("--key", help="verify: the vault's expected public key or fingerprint")
    tr.add_argument("--identity", type=Path, help="verify: the recipient's age identity, to check encrypted footage")
    tr.set_defaults(fn=cmd_transfer)

    kg = sub.add_parser("keygen", help="create the vault's age identity and its transfer-form signing key")
    kg.add_argument("--identity", type=Path)
    kg.add_argument("--signing-key", type=Path)
    kg.set_defaults(fn=cmd_keygen)

    dp = sub.add_parser("dpia", help="render the DPIA annex from the dock and vault configuration")
    dp.add_argument("--dock-config", type=Path, action="append", default=[])
    dp.add_argument("--out", type=Path)
    dp.add_argument("--pdf", type=Path)
    dp.set_defaults(fn=cmd_dpia)

    qu = sub.add_parser("quarantine", help="deliveries that were not accepted, with the reason")
    qu.add_argument("--json", action="store_true")
    qu.set_defaults(fn=cmd_quarantine)

    po = sub.add_parser("portal", help="the vault portal (HTTPS web application) and its accounts")
    posub = po.add_subparsers(dest="portal_command", required=True)
    sv = posub.add_parser("serve", help="serve the portal over HTTPS")
    sv.add_argument("--host")
    sv.add_argument("--port", type=int)
    sc = posub.add_parser("selfsigned-cert", help="write a self-signed certificate and key (demo, tests)")
    sc.add_argument("--name", action="append", help="host name or address (repeatable)")
    pu = posub.add_parser("user", help="portal accounts: add, set-password, enroll-totp, unlock")
    pusub = pu.add_subparsers(dest="user_command", required=True)
    for cmd, text in (("add", "create the account of a user in the vault config"), ("set-password", "a new password"),
                      ("enroll-totp", "a new TOTP secret; prints the otpauth:// URI once"),
                      ("unlock", "lift a lockout")):
        up = pusub.add_parser(cmd, help=text)
        up.add_argument("name")
        if cmd in ("add", "set-password"):
            up.add_argument("--password-file", type=Path, help="read the password from this file (mode 0600)")
    po.set_defaults(fn=cmd_portal)

    al = sub.add_parser("alerts", help="open alerts (quarantine, reconcile)")
    al.add_argument("--json", action="store_true")
    al.set_defaults(fn=cmd_alerts)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # transfer verify runs at the receiving party, which has no vault config.
    if (args.command == "transfer" and args.ids and args.ids[0] == "verify") or args.command == "keygen":
        return int(args.fn(None, args))
    try:
        cfg = load_config(args.config)
    except VaultConfigError as exc:
        print(f"bodydock-vault: invalid configuration:\n{exc}", file=sys.stderr)
        return 2
    from station.crypto.keys import KeyFileError

    try:
        return int(args.fn(cfg, args))
    except KeyFileError as exc:
        print(f"bodydock-vault: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
