"""The portal's words, Dutch first (the officials who use it), English for whoever needs it.

One small catalog: a key per text, both languages side by side so a missing translation shows
up in review (and in ``tests/vault/portal``, which checks both languages have every key)."""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping

LANGS = ("nl", "en")
DEFAULT = "nl"

MESSAGES: dict[str, tuple[str, str]] = {
    # key: (nl, en)
    "app": ("Beeldkluis", "Video vault"),
    "login.title": ("Inloggen", "Log in"),
    "login.user": ("Gebruikersnaam", "User name"),
    "login.password": ("Wachtwoord", "Password"),
    "login.code": ("Code uit de authenticator-app (6 cijfers)", "Code from the authenticator app (6 digits)"),
    "login.submit": ("Inloggen", "Log in"),
    "login.refused": ("Inloggen mislukt: naam, wachtwoord of code klopt niet.",
                      "Login failed: name, password or code is wrong."),
    "login.locked": ("Dit account is tijdelijk geblokkeerd na te veel mislukte pogingen. Probeer het later opnieuw "
                     "of vraag de beheerder het te deblokkeren.",
                     "This account is locked for a while after too many failed attempts. Try again later or ask "
                     "the administrator to unlock it."),
    "login.slow_down": ("Te veel mislukte pogingen vanaf dit adres. Wacht een minuut.",
                        "Too many failed attempts from this address. Wait a minute."),
    "login.expired": ("Uw sessie is verlopen. Log opnieuw in.", "Your session has expired. Please log in again."),
    "login.logged_out": ("U bent uitgelogd.", "You are logged out."),
    "login.note": ("Alleen voor aangewezen medewerkers. Elke inzage wordt vastgelegd.",
                   "For designated staff only. Every viewing is recorded."),
    "nav.search": ("Zoeken", "Search"),
    "nav.retention": ("Bewaartermijnen", "Retention"),
    "nav.transfer": ("Overdracht", "Transfer"),
    "nav.withdraw": ("Toestemming ingetrokken", "Consent withdrawn"),
    "nav.log": ("Inzagelog", "Access log"),
    "nav.reconcile": ("Volledigheid", "Reconcile"),
    "nav.users": ("Gebruikers", "Users"),
    "nav.logout": ("Uitloggen", "Log out"),
    "nav.lang": ("English", "Nederlands"),
    "search.title": ("Opnamen zoeken", "Search recordings"),
    "search.note": ("U ziet alleen gegevens over opnamen, geen beelden. Zoeken wordt vastgelegd.",
                    "You see data about recordings, not the footage. Searches are recorded."),
    "search.from": ("Vanaf (datum)", "From (date)"),
    "search.to": ("Tot en met (datum)", "To (date)"),
    "search.station": ("Dockstation", "Dock"),
    "search.wearer": ("Personeelsnummer drager", "Wearer's personnel number"),
    "search.tag": ("Label", "Tag"),
    "search.case": ("Zaaknummer", "Case number"),
    "search.any": ("alle", "any"),
    "search.submit": ("Zoeken", "Search"),
    "search.bad_date": ("Deze datum wordt niet herkend: gebruik jjjj-mm-dd.",
                        "This date is not understood: use yyyy-mm-dd."),
    "search.none": ("Geen opnamen gevonden.", "No recordings found."),
    "col.id": ("Opname", "Recording"),
    "col.started": ("Begin", "Start"),
    "col.duration": ("Duur", "Length"),
    "col.held": ("Bewaarplicht", "Legal hold"),
    "col.until": ("Bewaren tot", "Kept until"),
    "col.when": ("Tijd", "Time"),
    "col.who": ("Wie", "Who"),
    "col.what": ("Wat", "What"),
    "col.why": ("Waarom", "Why"),
    "col.result": ("Uitkomst", "Result"),
    "col.details": ("Details", "Details"),
    "tag.evidence": ("bewijs", "evidence"),
    "tag.learning": ("leren", "learning"),
    "tag.uncategorised": ("niet gelabeld", "uncategorised"),
    "yes": ("ja", "yes"),
    "no": ("nee", "no"),
    "rec.title": ("Opname", "Recording"),
    "rec.camera": ("Camera", "Camera"),
    "rec.ended": ("Einde", "End"),
    "rec.size": ("Grootte", "Size"),
    "rec.consent": ("Toestemming gefilmde", "Consent of the person filmed"),
    "rec.open": ("Openen voor een doel", "Open for a purpose"),
    "rec.open_note": ("Kies eerst waarom u de beelden bekijkt. Dat wordt vastgelegd voordat er iets wordt "
                      "ontsleuteld.",
                      "First say why you view the footage. That is recorded before anything is decrypted."),
    "rec.purpose": ("Doel", "Purpose"),
    "rec.case": ("Zaak- of verzoeknummer", "Case or request number"),
    "rec.open_submit": ("Openen en bekijken", "Open and view"),
    "rec.cannot_open": ("U mag deze opname met uw rol niet openen.", "Your role does not allow opening this one."),
    "rec.holds": ("Bewaarplichten (legal hold)", "Legal holds"),
    "rec.no_holds": ("Geen actieve bewaarplicht.", "No active legal hold."),
    "rec.hold_place": ("Bewaarplicht plaatsen", "Place a legal hold"),
    "rec.reason": ("Reden", "Reason"),
    "rec.hold_submit": ("Plaatsen", "Place"),
    "rec.release_submit": ("Opheffen", "Release"),
    "rec.release_reason": ("Reden van opheffen", "Reason for release"),
    "rec.placed_by": ("geplaatst door", "placed by"),
    "purpose.complaint": ("klacht", "complaint"),
    "purpose.police_report": ("aangifte / politie", "police report"),
    "purpose.om_request": ("verzoek van het OM", "request from the public prosecutor"),
    "purpose.subject_request": ("inzageverzoek van de gefilmde", "the filmed person's own request"),
    "purpose.learning": ("leren (met toestemming)", "learning (with consent)"),
    "view.title": ("Bekijken", "Viewing"),
    "view.logged": ("Vastgelegd in het inzagelog als regel {seq}: {who}, doel {purpose}, zaak {case}.",
                    "Recorded in the access log as entry {seq}: {who}, purpose {purpose}, case {case}."),
    "view.overlay": ("Bekeken door {who} · {when}", "Viewed by {who} · {when}"),
    "view.back": ("Terug naar de opname", "Back to the recording"),
    "retention.title": ("Bewaartermijnen", "Retention"),
    "retention.note": ("Wat wanneer wordt verwijderd. Een bewaarplicht houdt een opname vast, wat de termijn ook is; "
                       "bewijs van een open zaak heeft nog geen einddatum.",
                       "What is deleted when. A legal hold keeps a recording whatever its deadline; evidence of an "
                       "open case has no deadline yet."),
    "retention.open_case": ("zaak open", "case open"),
    "transfer.title": ("Overdracht aan politie of OM", "Hand-over to police or prosecutor"),
    "transfer.note": ("Maakt een overdrachtspakket met het overdrachtsformulier, ondertekend met de sleutel van "
                      "de kluis. Beelden om te leren worden nooit overgedragen.",
                      "Makes a transfer package with the transfer form, signed with the vault's key. Learning "
                      "footage is never handed over."),
    "transfer.recordings": ("Opnamen (één per regel)", "Recordings (one per line)"),
    "transfer.to": ("Aan (ontvanger)", "To (recipient)"),
    "transfer.basis": ("Grondslag", "Legal basis"),
    "transfer.recipient": ("Versleutelen voor age-sleutel van de ontvanger (optioneel)",
                           "Encrypt to the recipient's age key (optional)"),
    "transfer.submit": ("Pakket maken", "Make the package"),
    "transfer.done": ("Overdrachtspakket {pid} is gemaakt.", "Transfer package {pid} has been made."),
    "transfer.download": ("Pakket downloaden (zip)", "Download the package (zip)"),
    "transfer.form": ("Overdrachtsformulier bekijken", "View the transfer form"),
    "transfer.verify": ("Controleer na ontvangst met: bodydock-vault transfer verify <map>",
                        "Check on receipt with: bodydock-vault transfer verify <folder>"),
    "withdraw.title": ("Toestemming ingetrokken", "Consent withdrawn"),
    "withdraw.note": ("De gefilmde trekt de toestemming voor een opname om te leren in: de opname wordt "
                      "verwijderd en u krijgt een bewijs voor de burger.",
                      "The person filmed withdraws consent for a learning recording: it is deleted and you get "
                      "a receipt for the citizen."),
    "withdraw.recording": ("Opname", "Recording"),
    "withdraw.ref": ("Kenmerk van het verzoek", "Reference of the request"),
    "withdraw.submit": ("Intrekken en verwijderen", "Withdraw and delete"),
    "withdraw.receipt": ("Bewijs van intrekking", "Receipt"),
    "withdraw.download": ("Bewijs downloaden", "Download the receipt"),
    "log.title": ("Inzagelog", "Access log"),
    "log.chain_ok": ("Hash-keten intact: {n} regels.", "Hash chain intact: {n} entries."),
    "log.chain_bad": ("HASH-KETEN GEBROKEN: {problem}", "HASH CHAIN BROKEN: {problem}"),
    "log.filter": ("Filter (wie, wat of opname)", "Filter (who, what or recording)"),
    "log.newest": ("Nieuwste {n} regels, nieuwste eerst.", "Newest {n} entries, newest first."),
    "reconcile.title": ("Volledigheid (reconcile)", "Reconcile"),
    "reconcile.note": ("De kluis vergeleken met het ondertekende auditlog van elk dockstation.",
                       "The vault against each dock's own signed audit log."),
    "reconcile.run": ("Nu controleren", "Check now"),
    "reconcile.ok": ("in orde", "OK"),
    "reconcile.problems": ("PROBLEMEN", "PROBLEMS"),
    "reconcile.line": ("{in_vault} in de kluis, {audit} in het auditlog van het dock; keten {chain}; "
                       "ontbreekt {missing}, onverwacht {unexpected}, wacht op audit {awaiting}",
                       "{in_vault} in the vault, {audit} in the dock's audit; chain {chain}; missing {missing}, "
                       "unexpected {unexpected}, awaiting audit {awaiting}"),
    "reconcile.intact": ("intact", "intact"),
    "reconcile.broken": ("GEBROKEN", "BROKEN"),
    "reconcile.none": ("Nog geen dockstations.", "No docks yet."),
    "users.title": ("Gebruikers en rollen", "Users and roles"),
    "users.note": ("Gebruikers en rollen staan in de configuratie van de kluis; accounts (wachtwoord, "
                   "authenticator) maakt de beheerder met bodydock-vault portal user add.",
                   "Users and roles are in the vault's configuration; accounts (password, authenticator) are "
                   "made by the administrator with bodydock-vault portal user add."),
    "users.name": ("Naam", "Name"),
    "users.roles": ("Rollen", "Roles"),
    "users.account": ("Account", "Account"),
    "users.totp": ("Authenticator", "Authenticator"),
    "users.locked": ("Geblokkeerd", "Locked"),
    "users.unlock": ("Deblokkeren", "Unlock"),
    "users.none": ("geen", "none"),
    "roles.title": ("Rollen", "Roles"),
    "roles.purposes": ("Doelen", "Purposes"),
    "roles.actions": ("Handelingen", "Actions"),
    # Refusals from vault.access, by their code (the English message stays in the CLI and the log).
    "refusal.unknown_user": ("Onbekende gebruiker {user}.", "Unknown user {user}."),
    "refusal.appraisal": ("Er bestaat geen doel 'beoordeling': beelden worden nooit gebruikt om medewerkers te "
                          "beoordelen (leren en niet controleren; WOR art. 27).",
                          "There is no appraisal purpose: footage is never used to judge staff (leren en niet "
                          "controleren; WOR art. 27)."),
    "refusal.unknown_purpose": ("Onbekend doel: {purpose}.", "Unknown purpose: {purpose}."),
    "refusal.no_recording": ("Deze opname staat niet in de kluis.", "This recording is not in the vault."),
    "refusal.recording_state": ("Deze opname is niet beschikbaar (status {state}).",
                                "This recording is not available (state {state})."),
    "refusal.learning_only": ("Beelden om te leren worden alleen geopend om te leren; ze worden nooit gebruikt als "
                              "bewijs of voor klachten.",
                              "Learning footage opens only for learning; it is never used as evidence or for "
                              "complaints."),
    "refusal.not_learning_footage": ("Alleen beelden die voor leren zijn gelabeld, met toestemming van de gefilmde, "
                                     "worden gebruikt om te leren.",
                                     "Only footage tagged for learning, with the filmed person's consent, is used "
                                     "for learning."),
    "refusal.no_consent": ("De gefilmde heeft geen toestemming gegeven om deze beelden te gebruiken om te leren.",
                           "The filmed person did not consent to learning use."),
    "refusal.needs_case": ("Het doel {purpose} vraagt om een zaak- of verzoeknummer.",
                           "The purpose {purpose} needs a case or request number."),
    "refusal.learning_roles": ("Beelden om te leren openen alleen voor de drager zelf en voor rollen die mogen leren.",
                               "Learning footage opens only for its wearer and roles allowed learning."),
    "refusal.purpose_not_allowed": ("Geen van de rollen van {user} ({roles}) staat het doel {purpose} toe.",
                                    "None of {user}'s roles ({roles}) allows the purpose {purpose}."),
    "refusal.action_not_allowed": ("Geen van de rollen van {user} ({roles}) mag {action}.",
                                   "None of {user}'s roles ({roles}) may {action}."),
    "refusal.hold_needs_case_and_reason": ("Een bewaarplicht vraagt om een zaaknummer en een reden.",
                                           "A legal hold needs a case number and a reason."),
    "refusal.no_active_hold": ("Er is geen actieve bewaarplicht {hold}.", "There is no active legal hold {hold}."),
    "refusal.already_withdrawn": ("Deze opname is al ingetrokken.", "This recording was already withdrawn."),
    "refusal.withdraw_not_learning": ("Alleen beelden om te leren worden op toestemming ingetrokken; deze opname is "
                                      "gelabeld als {tag}.",
                                      "Only learning footage is withdrawn by consent; this recording is {tag}."),
    "refusal.withdraw_held": ("Op deze opname rust een bewaarplicht; hef die eerst op.",
                              "The recording is under a legal hold; release the hold first."),
    "refusal.needs_consent_ref": ("Een kenmerk van de intrekking van de toestemming is verplicht.",
                                  "A consent reference is required."),
    "refusal.transfer_needs_form": ("Een overdracht vraagt om een ontvanger, een wettelijke grondslag en een "
                                    "zaaknummer.",
                                    "A transfer needs a recipient, a legal basis and a case number."),
    "refusal.transfer_bad_key": ("De sleutel van de ontvanger is ongeldig: {error}",
                                 "The recipient key is invalid: {error}"),
    "refusal.transfer_learning": ("Beelden om te leren worden nooit overgedragen (ze zijn geen bewijs): {recording}.",
                                  "Learning footage is never handed over (it is not evidence): {recording}."),
    "refusal.transfer_nothing": ("Er zijn geen opnamen gekozen.", "No recordings were named."),
    "refusal.not_visible": ("Geen van de rollen van {user} mag opname {recording} zien.",
                            "None of {user}'s roles may see recording {recording}."),
    "action.hold": ("een bewaarplicht plaatsen", "place a legal hold"),
    "action.release": ("een bewaarplicht opheffen", "release a legal hold"),
    "action.close_case": ("een zaak sluiten", "close a case"),
    "action.transfer": ("beelden overdragen", "hand over footage"),
    "action.withdraw": ("een intrekking van toestemming verwerken", "process a withdrawal of consent"),
    "action.audit": ("het inzagelog en de bewaartermijnen inzien", "read the access log and the retention"),
    "action.administer": ("gebruikers beheren", "administer users"),
    "refused.title": ("Niet toegestaan", "Not allowed"),
    "refused.note": ("Deze weigering is vastgelegd.", "This refusal has been recorded."),
    "error.csrf": ("Het formulier is verlopen of niet van deze site. Laad de pagina opnieuw.",
                   "The form has expired or is not from this site. Reload the page."),
    "error.not_found": ("Niet gevonden.", "Not found."),
    "error.title": ("Fout", "Error"),
    "done.hold": ("Bewaarplicht {hid} geplaatst.", "Legal hold {hid} placed."),
    "done.release": ("Bewaarplicht {hid} opgeheven.", "Legal hold {hid} released."),
    "done.unlock": ("Account {name} gedeblokkeerd.", "Account {name} unlocked."),
}


def translator(lang: str) -> Callable[..., str]:
    idx = LANGS.index(lang) if lang in LANGS else 0

    def t(key: str, **kw: object) -> str:
        pair = MESSAGES.get(key)
        text = pair[idx] if pair is not None else key
        return text.format(**kw) if kw else text

    return t


def refusal(t: Callable[..., str], code: str, params: Mapping[str, str], english: str) -> str:
    """A refusal in the page's language, from its code; a code without a text here (another
    module's rule) shows its English message rather than nothing."""
    key = f"refusal.{code}"
    if key not in MESSAGES:
        return english
    values = dict(params)
    for name in ("purpose", "action"):
        if f"{name}.{values.get(name)}" in MESSAGES:
            values[name] = t(f"{name}.{values[name]}")
    if "roles" in values:
        values["roles"] = values["roles"] or t("users.none")
    fields = {f for _, f, _, _ in string.Formatter().parse(MESSAGES[key][0]) if f}
    return t(key, **{f: values.get(f, "?") for f in fields}) if fields else t(key)


_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}:\d{2}:\d{2}))?")


def when(text: str | None, lang: str) -> str:
    """A catalog timestamp (ISO 8601, UTC) as the page's language writes it: dd-mm-jjjj in Dutch,
    the ISO order in English; anything else unchanged."""
    m = _ISO.match(text or "")
    if m is None:
        return text or "-"
    y, mo, d, clock = m.groups()
    date = f"{d}-{mo}-{y}" if lang == "nl" else f"{y}-{mo}-{d}"
    return f"{date} {clock}" if clock else date


def day(text: str | None, lang: str) -> str:
    """Only the date of a catalog timestamp, as :func:`when` writes it."""
    return when((text or "")[:10] or None, lang)
