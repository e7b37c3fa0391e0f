"""The issue's acceptance, in headless Chromium against the platform as `rls run` starts it: a CSSS worker refers a
person from the form, the crisis centre sees it with its clock, accepts it, is refused the record information with
the reason, records the person's consent, reads exactly the consented categories with their legal basis; the CSSS
auditor finds the disclosure in the register; a second worker's stale page gets the conflict explained. Every step
leaves a screenshot under var/console-screenshots/ and checks what the page says."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from services.common.auth import load_dev_key, mint_dev_token
from services.console.revocations import Revocations
from services.console.session import SESSION_COOKIE, SealedCookies
from services.console.settings import ConsoleSettings
from services.runtime import demo
from tests.console.conftest import Running, User

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

SUBJECT = "usager-console-0001"
INFORMATION = {
    "IDENTIFICATION": "Personne Synthétique 0001",
    "CONTACT": "555-0101",
    "HEALTH": "note de santé synthétique",
}


def referral_id(user: User) -> str:
    match = re.search(r"/demandes/([0-9a-f-]{36})", user.page.url)
    assert match, user.page.url
    return match.group(1)


def submit_referral(worker: User) -> str:
    """From the form: the directory lists who offers the service with the agreement in force; a bad id is refused
    naming the field (the API's problem document), then the referral is submitted."""
    worker.go("/demandes/nouvelle")
    worker.page.select_option("#f-search-service", "CRISIS_24_7")
    worker.page.get_by_role("button", name="Chercher dans le répertoire").click()
    target = worker.page.locator("label.target", has_text="Centre de crise de Québec")
    expect(target.get_by_test_id("coverage")).to_contain_text("entente en vigueur : Entente-cadre de collaboration")
    target.locator("input[type=radio]").check()
    worker.page.fill("#f-subject_id", "usager 0001")  # a space: the referral API refuses it
    worker.page.select_option("#f-from_service", "AAOR")
    worker.page.select_option("#f-urgency", "URGENT")
    worker.page.fill("#f-reason_code", "FAMILY_CRISIS")
    for category, text in INFORMATION.items():
        worker.page.fill(f"#f-information-{category}", text)
    worker.page.get_by_role("button", name="Soumettre la demande").click()
    alert = worker.page.get_by_role("alert")
    expect(alert).to_contain_text("Identifiant pseudonyme de la personne")
    expect(alert).to_contain_text("le format n'est pas valide")
    expect(worker.page.locator("#f-subject_id")).to_have_attribute("aria-invalid", "true")
    expect(worker.page.locator("#f-information-CONTACT")).to_have_value(INFORMATION["CONTACT"])  # nothing lost
    worker.shot("02-referral-form-refused-naming-the-field")

    worker.page.fill("#f-subject_id", SUBJECT)
    worker.page.get_by_role("button", name="Soumettre la demande").click()
    worker.page.wait_for_url(re.compile(r".*/demandes/[0-9a-f-]{36}\?soumise=1"))
    expect(worker.page.get_by_role("status")).to_contain_text("Demande soumise.")
    expect(worker.page.get_by_test_id("status")).to_have_text("Soumise")
    expect(worker.page.locator("body")).to_contain_text("Entente-cadre de collaboration — crise et écoute")
    worker.shot("03-referral-submitted")
    return referral_id(worker)


def test_a_referral_from_the_csss_form_to_the_auditors_register(user_for: Any, running: Running) -> None:
    started = time.monotonic()
    worker = user_for()
    worker.go("/")
    expect(worker.page).to_have_title(re.compile("Connexion"))
    expect(worker.page.locator("html")).to_have_attribute("lang", "fr")
    worker.shot("01-sign-in")
    worker.sign_in(demo.CSSS, "intake", sub="intake-csss")
    expect(worker.page.get_by_test_id("user")).to_contain_text("intake-csss — csss-vieille-capitale")

    the_id = submit_referral(worker)
    short = the_id.split("-")[0]
    worker.sign_out()

    crisis = user_for()
    crisis.sign_in(demo.CRISIS_CENTRE, "intake", "clinician", sub="intervenante-crise")
    row = crisis.page.locator(f"tr[data-referral='{the_id}']")
    expect(row).to_contain_text("Soumise")
    expect(row).to_contain_text("Urgente")
    expect(row.locator(".clock")).to_contain_text("Crise : intervention immédiate")
    expect(row.locator(".clock")).to_contain_text(re.compile(r"\d+ min restant|dépassé de"))
    crisis.shot("04-worklist-of-the-receiving-organisation-with-its-clock")

    row.get_by_role("link", name=short).click()
    crisis.page.get_by_role("button", name="Accepter").click()
    expect(crisis.page.get_by_role("status")).to_contain_text("Action enregistrée : Accepter.")
    expect(crisis.page.get_by_test_id("status")).to_have_text("Acceptée")
    expect(crisis.page.locator(".timeline")).to_contain_text("acceptée")
    crisis.shot("05-accepted")

    section = crisis.page.locator("#renseignements")
    for category in INFORMATION:
        section.locator(f"input[name=categories][value={category}]").check()
    with crisis.page.expect_response(re.compile(r".*/renseignements$")) as answer:
        section.get_by_role("button", name="Demander ces renseignements").click()
    assert answer.value.headers["cache-control"] == "no-store"
    decision = crisis.page.get_by_test_id("decision")
    expect(decision).to_have_attribute("data-outcome", "DENY")
    expect(decision).to_contain_text("Communication refusée")
    expect(decision).to_contain_text("Rien n'a été communiqué.")
    expect(decision.get_by_test_id("denied")).to_contain_text("Identification, Coordonnées, Renseignements de santé")
    expect(decision.get_by_test_id("why")).to_contain_text("consentement")  # the consent service's reason, in French
    assert INFORMATION["IDENTIFICATION"] not in crisis.page.content()
    crisis.shot("06-information-denied-with-the-reason")

    consent = crisis.page.locator("#consentement")
    consent.locator("#f-subject_birth_date").fill("1980-05-17")
    mandate = consent.locator("#f-granted_by-scope")
    expect(mandate).to_be_hidden()  # the person's own consent (the default) states no mandate
    consent.locator("#f-granted_by-role").select_option("MANDATARY")
    expect(mandate).to_be_visible()
    expect(mandate.get_by_role("checkbox", name="Référence (services à la personne)")).to_be_visible()
    consent.locator("#f-granted_by-role").select_option("SELF")
    expect(mandate).to_be_hidden()
    consent.locator("#f-method").select_option("VERBAL_WITNESSED")
    for category in ("IDENTIFICATION", "CONTACT"):
        consent.locator(f"input[name=categories][value={category}]").check()
    consent.get_by_role("button", name="Consigner le consentement").click()
    expect(crisis.page.get_by_role("status")).to_contain_text("Consentement consigné")
    crisis.shot("07-consent-recorded")

    section = crisis.page.locator("#renseignements")
    for category in INFORMATION:
        section.locator(f"input[name=categories][value={category}]").check()
    section.get_by_role("button", name="Demander ces renseignements").click()
    decision = crisis.page.get_by_test_id("decision")
    expect(decision).to_have_attribute("data-outcome", "PERMIT_PARTIAL")
    released = decision.get_by_test_id("released")
    expect(released.locator("dd[data-category=IDENTIFICATION]")).to_have_text(INFORMATION["IDENTIFICATION"])
    expect(released.locator("dd[data-category=CONTACT]")).to_have_text(INFORMATION["CONTACT"])
    expect(released.locator("dd[data-category=HEALTH]")).to_have_count(0)
    assert INFORMATION["HEALTH"] not in crisis.page.content()
    expect(decision.get_by_test_id("denied")).to_contain_text("Renseignements de santé")
    expect(decision.get_by_test_id("basis")).to_contain_text("art. 19")
    expect(decision.get_by_test_id("basis")).to_contain_text("Consentement")
    expect(decision).to_contain_text("Inscription au registre")
    crisis.shot("08-information-released-only-the-consented-categories")

    auditor = user_for()
    auditor.sign_in(demo.CSSS, "auditor", sub="verificatrice-csss")
    auditor.go(f"/audit/registre?personne={SUBJECT}")
    entry = auditor.page.get_by_test_id("register").locator("tbody tr")
    expect(entry).to_have_count(1)
    expect(entry).to_contain_text(demo.CRISIS_CENTRE)
    expect(entry).to_contain_text("Identification, Coordonnées")
    expect(entry).to_contain_text("art. 19")
    auditor.shot("09-auditor-sees-the-register-entry")

    log = running.console_log.read_text()
    leaked = [value for value in (*INFORMATION.values(), SUBJECT) if value in log]
    assert not leaked, "no personal information in the console's logs"
    print(
        f"\nacceptance story: {len(worker.steps + crisis.steps + auditor.steps)} steps in "
        f"{time.monotonic() - started:.1f} s"
    )


def refer_through_the_api(running: Running, subject: str) -> str:
    """A referral from the CSSS to the crisis centre, as a partner system would submit it."""
    key = load_dev_key(running.var / "dev-signing-key")
    token = mint_dev_token(key, demo.CSSS, ["intake"], "partner-system", "rls", timedelta(hours=1))
    body = {
        "subject_id": subject,
        "from_org": demo.CSSS,
        "from_service": "AAOR",
        "to_org": demo.CRISIS_CENTRE,
        "to_service": "CRISIS_24_7",
        "channel": "PHONE",
        "urgency": "ROUTINE",
        "reason_code": "HOUSING",
    }
    response = httpx.post(
        running.platform.urls["referral"] + "/v1/referrals",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=15,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_a_second_worker_on_a_stale_page_gets_the_conflict_explained_not_an_overwrite(
    user_for: Any, running: Running
) -> None:
    the_id = refer_through_the_api(running, "usager-console-0002")
    first, second = user_for(), user_for()
    for person, sub in ((first, "intervenant-1"), (second, "intervenant-2")):
        person.sign_in(demo.CRISIS_CENTRE, "intake", sub=sub)
        person.go(f"/demandes/{the_id}")
        expect(person.page.get_by_test_id("version")).to_have_text("1")

    first.page.get_by_role("button", name="Accepter").click()
    expect(first.page.get_by_test_id("status")).to_have_text("Acceptée")

    refusal = second.page.locator("form.action", has=second.page.get_by_role("button", name="Refuser"))
    refusal.get_by_label("Motif du refus").fill("hors mandat")
    refusal.get_by_role("button", name="Refuser").click()
    conflict = second.page.get_by_test_id("conflict")
    expect(conflict).to_contain_text("Quelqu'un a modifié cette demande")
    expect(conflict).to_contain_text("« Refuser » n'a pas été appliquée")
    expect(conflict).to_contain_text("version 1 → 2")
    expect(conflict).to_contain_text("« Acceptée »")
    expect(second.page.get_by_test_id("status")).to_have_text("Acceptée")  # not overwritten: still accepted
    expect(second.page.get_by_test_id("version")).to_have_text("2")  # the page now shows what is true
    second.shot("10-conflict-explained-to-the-second-worker")


def stored(user: User) -> str:
    """Everything the page's origin keeps in sessionStorage, as text."""
    return str(user.page.evaluate("JSON.stringify(Object.entries(sessionStorage))"))


def test_the_filters_refresh_the_list_in_place_and_sign_out_leaves_no_copy_of_it(
    user_for: Any, running: Running
) -> None:
    the_id = refer_through_the_api(running, "usager-console-0006")
    person = user_for()
    person.sign_in(demo.CRISIS_CENTRE, "intake", sub="filtres-crise")
    row = person.page.locator(f"tr[data-referral='{the_id}']")
    person.page.select_option("#f-urgence", "ROUTINE")  # status and service stay on "Tous"
    person.page.wait_for_url("**urgence=ROUTINE**")
    expect(row).to_have_count(1)
    person.page.select_option("#f-urgence", "IMMEDIATE")
    person.page.wait_for_url("**urgence=IMMEDIATE**")
    expect(row).to_have_count(0)
    assert "filtres-crise" not in stored(person)  # htmx keeps no copy of the pages (only the current path)
    person.sign_out()
    assert "filtres-crise" not in stored(person) and "data-referral" not in stored(person)
    person.page.go_back()
    expect(person.page).to_have_title(re.compile("Connexion"))  # the server asks who it is, nothing shown


def test_a_copy_of_the_session_cookie_opens_nothing_once_its_owner_signed_out(user_for: Any, running: Running) -> None:
    person = user_for()
    person.sign_in(demo.CRISIS_CENTRE, "intake", sub="copie-crise")
    copy = next(c for c in person.page.context.cookies() if c["name"] == SESSION_COOKIE)
    thief = user_for()
    thief.page.context.add_cookies([copy])
    thief.go("/demandes")
    expect(thief.page.get_by_test_id("user")).to_contain_text("copie-crise")  # the copy opens the session...
    person.sign_out()
    thief.go("/demandes")
    expect(thief.page).to_have_title(re.compile("Connexion"))  # ...until its owner signs out
    expect(thief.page.get_by_role("alert")).to_contain_text("Votre session a expiré")
    thief.shot("13-a-copied-cookie-refused-after-sign-out")
    key = ConsoleSettings(var_dir=running.var).session_key_bytes()
    sealed = SealedCookies(key, 1, Revocations("memory://")).open(SESSION_COOKIE, copy["value"])
    assert sealed is not None and sealed["sid"] not in running.console_log.read_text()


SERIOUS = {"serious", "critical"}


def violations(user: User) -> list[tuple[str, str, str]]:
    """axe-core run in the page: (rule, impact, first element) per violation."""
    results = Axe().run(user.page)
    return [(v["id"], v["impact"], str(v["nodes"][0]["target"])) for v in results.response["violations"]]


def test_the_main_pages_have_no_serious_accessibility_violations(user_for: Any, running: Running) -> None:
    the_id = refer_through_the_api(running, "usager-console-0003")
    person = user_for()
    person.sign_in(demo.CSSS, "intake", "coordinator", "auditor", "network-auditor", sub="tout-role")
    found: dict[str, list[tuple[str, str, str]]] = {}
    pages = [
        "/demandes?sens=envoyees",
        "/demandes/nouvelle?to_service=CRISIS_24_7",
        f"/demandes/{the_id}",
        "/ententes",
        "/audit/integrite",
        "/audit/rapport",
        "/audit/rapport/document",
        "/audit/registre",
        "/audit/journal",
    ]
    for path in pages:
        person.go(path)
        found[path] = violations(person)
    person.sign_out()
    found["/connexion"] = violations(person)
    print(f"\n{Axe().axe_script[3:15]}: violations of any impact per page: {found}")
    serious = {path: [v for v in found[path] if v[1] in SERIOUS] for path in found}
    assert not {path: problems for path, problems in serious.items() if problems}


def test_english_on_request_with_dates_in_montreal_time(user_for: Any, running: Running) -> None:
    person = user_for()
    person.sign_in(demo.CSSS, "intake", sub="english-speaker")
    person.page.get_by_role("link", name="English").click()
    expect(person.page.locator("html")).to_have_attribute("lang", "en")
    expect(person.page.get_by_role("heading", level=1)).to_have_text("Referrals")
    person.go("/demandes?sens=envoyees")
    submitted = person.page.locator("tbody time").first
    expect(submitted).to_have_text(re.compile(r"^[A-Z][a-z]+ \d{1,2}, \d{4}, \d{1,2}:\d{2} (AM|PM)$"))
    expect(submitted).to_have_attribute("datetime", re.compile(r"-0[45]:00$"))  # America/Montreal
    person.shot("11-english")
    person.page.get_by_role("link", name="Français").click()
    expect(person.page.get_by_role("heading", level=1)).to_have_text("Demandes de services")


def test_usable_on_a_tablet_and_light_on_a_slow_link(user_for: Any, running: Running) -> None:
    the_id = refer_through_the_api(running, "usager-console-0004")
    tablet = user_for(width=820, height=1180)
    tablet.sign_in(demo.CRISIS_CENTRE, "intake", sub="tablette")
    cdp = tablet.page.context.new_cdp_session(tablet.page)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    cdp.send(  # a slow mobile link: 400 ms latency, 400 kbit/s down
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 400, "downloadThroughput": 50_000, "uploadThroughput": 50_000},
    )
    started = time.monotonic()
    tablet.go(f"/demandes/{the_id}")
    loaded_s = time.monotonic() - started
    weight = tablet.page.evaluate(
        "() => performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))"
        ".reduce((total, entry) => total + entry.transferSize, 0)"
    )
    overflow = tablet.page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    tablet.shot("12-tablet")
    print(f"\nreferral page on a 400 kbit/s, 400 ms link: {weight / 1024:.1f} KiB transferred, {loaded_s:.1f} s")
    assert overflow <= 0, "no horizontal scrolling on a tablet"
    assert weight < 60 * 1024
    expect(tablet.page.get_by_role("button", name="Accepter")).to_be_visible()


def test_the_agreements_manager_and_the_auditors_pages(user_for: Any, running: Running) -> None:
    manager = user_for()
    manager.sign_in(demo.CSSS, "coordinator", "auditor", "network-auditor", sub="gestionnaire")
    manager.go("/ententes")
    service = manager.page.locator("section.agreement", has_text="Entente de service — services spécialisés")
    expect(service).to_contain_text("En vigueur")
    expect(service.locator(".volumes")).to_contain_text("Services spécialisés : 0 sur 120 (0 %)")
    expect(manager.page.locator("section.agreement")).to_have_count(2)
    manager.shot("13-agreements")

    manager.go("/audit/integrite")
    manager.page.get_by_role("button", name="Vérifier maintenant").click()
    result = manager.page.get_by_test_id("integrity-result")
    expect(result).to_be_visible()
    for store in ("referral", "agreements", "consent"):
        expect(manager.page.locator("th[scope=row]", has_text=store)).to_have_count(1)
    expect(manager.page.get_by_test_id("last-verification")).to_contain_text("par gestionnaire")
    manager.shot("14-integrity")

    manager.go("/audit/rapport")
    frame = manager.page.frame_locator("iframe.report")
    expect(frame.locator("h1")).to_have_text("RLS Referrals — rapport de conformité")
    expect(frame.locator("svg[role=img]").first).to_have_attribute("aria-label", re.compile("."))
    manager.shot("15-compliance-report")

    manager.go("/audit/journal")
    trail = manager.page.get_by_test_id("trail")
    expect(trail).to_contain_text("VERIFY")
    expect(trail).to_contain_text("REPORT")
    manager.shot("16-audit-trail")


def test_keyboard_only_from_the_skip_link_to_an_action(user_for: Any, running: Running) -> None:
    the_id = refer_through_the_api(running, "usager-console-0005")
    person = user_for()
    person.go("/connexion")
    person.page.keyboard.press("Tab")
    assert person.page.evaluate("document.activeElement.textContent") == "Aller au contenu"
    person.page.keyboard.press("Enter")
    assert person.page.evaluate("document.activeElement.id") == "contenu"
    person.page.focus("#f-org")
    person.page.keyboard.type("Centre de crise")  # a select follows typed letters
    for _ in range(12):  # to the sign-in button, through the roles and the user name
        person.page.keyboard.press("Tab")
        if person.page.evaluate("document.activeElement.type") == "submit":
            break
    person.page.keyboard.press("Enter")
    person.page.wait_for_url("**/demandes**")
    person.go(f"/demandes/{the_id}")
    for _ in range(40):
        person.page.keyboard.press("Tab")
        if person.page.evaluate("document.activeElement.textContent.trim()") == "Accepter":
            break
    person.page.keyboard.press("Enter")
    expect(person.page.get_by_test_id("status")).to_have_text("Acceptée")
