"""Access with a purpose: the access log entry is on disk before decryption; refusals (learning
footage for a complaint, appraisal, a role without the purpose, a hold by a role not allowed)
are refused and logged; an edited access log is caught."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.vault.vault_helpers import FakeDock, make_vault
from vault import access, agedecrypt
from vault.access import Refused
from vault.accesslog import verify
from vault.catalog import ACCESS
from vault.intake import load_identities

LEARNING = {"consent": {"given": True, "method": "verbal", "note": None}}


def _setup(tmp_path: Path):  # type: ignore[no-untyped-def]
    env = make_vault(tmp_path / "v")
    cat = env.catalog()
    dock = FakeDock(tmp_path / "d", "dock-a", env.inbox, env.recipient)
    dock.register(cat)
    plain = dock.deliver(1, size=150_000)
    learn = dock.deliver(2, tag="learning", tag_details=LEARNING)
    no_consent = dock.deliver(3, tag="learning", tag_details={"consent": {"given": False, "method": "not_asked"}})
    env.intake(cat).run_once()
    return env, cat, plain, learn, no_consent


def _access(env) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    return [json.loads(line) for line in env.cfg.access_log_path.read_text().splitlines()]


def test_view_is_logged_before_decryption_and_file_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env, cat, plain, _, _ = _setup(tmp_path)
    cfg = env.cfg
    real = agedecrypt.decrypt
    seen_at_decrypt: list[list[dict[str, object]]] = []

    def spy(*a, **kw):  # type: ignore[no-untyped-def]
        seen_at_decrypt.append(_access(env))  # what is on disk when decryption starts
        return real(*a, **kw)

    monkeypatch.setattr(agedecrypt, "decrypt", spy)
    got: dict[str, object] = {}

    def consume(path: Path) -> None:
        got["mode"] = path.stat().st_mode & 0o777
        got["data"] = path.read_bytes()
        got["path"] = path

    entry = access.view(cfg, cat, load_identities(cfg.identity_file), plain["id"], purpose="complaint",
                        case="KL-2026-17", user_name="handler", consume=consume)
    assert seen_at_decrypt and seen_at_decrypt[0][-1]["what"] == "view.opened"
    opened = seen_at_decrypt[0][-1]
    assert opened["seq"] == entry["seq"] and opened["why"] == "complaint"
    assert opened["details"] == {"recording": plain["id"], "purpose": "complaint", "case": "KL-2026-17",  # type: ignore[comparison-overlap]
                                 "via": "complaint_handler", "station": "dock-a", "sha256": plain["body"]["sha256"]}
    assert got["data"] == plain["plain"] and got["mode"] == 0o600
    assert not Path(str(got["path"])).exists()
    assert _access(env)[-1]["what"] == "view.closed"


# ``code`` is the rule's stable name: the portal says it in Dutch by that name.
@pytest.mark.parametrize(("user", "rec", "purpose", "case", "why", "code"), [
    ("privacy", "learn", "complaint", "K1", "learning footage opens only for learning", "learning_only"),
    ("coach", "plain", "learning", None, "only footage tagged for learning", "not_learning_footage"),
    ("coach", "no_consent", "learning", None, "did not consent", "no_consent"),
    ("handler", "learn", "learning", None, "only for its wearer and roles allowed learning", "learning_roles"),
    ("privacy", "plain", "appraisal", "K1", "no appraisal purpose", "appraisal"),
    ("privacy", "plain", "beoordelingsgesprek", "K1", "no appraisal purpose", "appraisal"),
    ("coach", "plain", "performance_review", None, "no appraisal purpose", "appraisal"),
    ("coach", "plain", "complaint", "K1", "none of coach's roles", "purpose_not_allowed"),
    ("handler", "plain", "om_request", "OM-1", "none of handler's roles", "purpose_not_allowed"),
    ("privacy", "plain", "complaint", None, "needs a case", "needs_case"),
    ("nobody", "plain", "complaint", "K1", "unknown user", "unknown_user"),
])
def test_refusals_are_refused_and_logged(tmp_path: Path, user: str, rec: str, purpose: str, case: str | None,
                                         why: str, code: str) -> None:
    env, cat, plain, learn, no_consent = _setup(tmp_path)
    target = {"plain": plain, "learn": learn, "no_consent": no_consent}[rec]
    before = len(list(env.cfg.views_dir().glob("*"))) if env.cfg.views_dir().exists() else 0
    with pytest.raises(Refused, match=why) as refused:
        access.view(env.cfg, cat, load_identities(env.cfg.identity_file), target["id"], purpose=purpose, case=case,
                    user_name=user, consume=lambda p: pytest.fail("must not decrypt"))
    assert refused.value.code == code
    last = _access(env)[-1]
    assert (last["what"], last["result"], last["who"]) == ("view.refused", "refused", user)
    assert why in str(last["why"])
    assert (len(list(env.cfg.views_dir().glob("*"))) if env.cfg.views_dir().exists() else 0) == before


def test_learning_opens_for_the_wearer_and_the_coach(tmp_path: Path) -> None:
    env, cat, _, learn, _ = _setup(tmp_path)
    ids = load_identities(env.cfg.identity_file)
    for user, via in (("wearer", "wearer"), ("coach", "coach")):
        entry = access.view(env.cfg, cat, ids, learn["id"], purpose="learning", case=None, user_name=user,
                            consume=lambda p: None)
        assert entry["details"]["via"] == via


def test_hold_by_a_role_not_allowed_is_refused_and_logged(tmp_path: Path) -> None:
    env, cat, plain, _, _ = _setup(tmp_path)
    with pytest.raises(Refused, match="may hold"):
        access.hold(env.cfg, cat, plain["id"], case="K1", reason="complaint", user_name="handler")
    assert _access(env)[-1]["what"] == "hold.refused"
    hid = access.hold(env.cfg, cat, plain["id"], case="K1", reason="complaint filed", user_name="privacy")
    assert _access(env)[-1]["what"] == "hold.placed"
    with pytest.raises(Refused, match="may release"):
        access.release(env.cfg, cat, hid, reason="done", user_name="coach")
    access.release(env.cfg, cat, hid, reason="complaint closed", user_name="privacy")
    assert _access(env)[-1]["what"] == "hold.released"
    assert verify(env.cfg.access_log_path, cat.anchor(ACCESS)).ok


def test_edited_access_log_line_is_caught(tmp_path: Path) -> None:
    env, cat, plain, _, _ = _setup(tmp_path)
    ids = load_identities(env.cfg.identity_file)
    for _ in range(3):
        access.view(env.cfg, cat, ids, plain["id"], purpose="complaint", case="K1", user_name="privacy",
                    consume=lambda p: None)
    path = env.cfg.access_log_path
    assert verify(path, cat.anchor(ACCESS)).ok
    original = path.read_text()
    path.write_text(original.replace('"who":"privacy"', '"who":"someone-else"', 1))
    bad = verify(path, cat.anchor(ACCESS))
    assert not bad.ok and "does not match its hash" in bad.problem
    # Dropping the last lines is caught by the catalog's anchor.
    path.write_text("".join(original.splitlines(keepends=True)[:-2]))
    bad = verify(path, cat.anchor(ACCESS))
    assert not bad.ok and "anchors" in bad.problem
