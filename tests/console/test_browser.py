"""The issue's acceptance, in headless Chromium against the platform as `rls run` starts it: a CSSS worker refers a
person from the form, the crisis centre sees it with its clock, accepts it, is refused the record information with
the reason, records the person's consent, reads exactly the consented categories with their legal basis; the CSSS
auditor finds the disclosure in the register; a second worker's stale page gets the conflict explained. Every step
leaves a screenshot under var/console-screenshots/ and checks what the page says."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from playwright.sync_api import expect

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
    consent.locator("#f-granted_by-role").select_option("SELF")
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
