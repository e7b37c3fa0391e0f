"""Sign-in through OpenID Connect (authorisation code + PKCE) against a real, certified OpenID Provider nobody here
wrote (panva's oidc-provider, from npm, run on loopback): the browser goes to the provider's login and consent pages
and back; the console redeems the code, checks the ID token and calls the referral API with the provider's access
token, which the API verifies against the provider's JWKS like any partner's token."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, expect

from services.console.main import build_app as build_console
from services.console.settings import ConsoleSettings
from services.referral.main import build_app as build_referral
from services.referral.settings import ReferralSettings
from services.runtime import demo
from services.runtime.settings import RuntimeSettings
from tests.helpers import free_port

pytestmark = pytest.mark.integration

PROVIDER_FILES = Path(__file__).parent / "oidc_provider"
ACCOUNTS = {"lea@crise": {"org": demo.CRISIS_CENTRE, "roles": ["intake", "clinician"]}, "sans-org": {}}


def provider_modules() -> Path:
    """oidc-provider installed once (pinned by package-lock.json) into the cache, outside git."""
    lock = (PROVIDER_FILES / "package-lock.json").read_bytes()
    target = RuntimeSettings().cache_dir / f"oidc-provider-{hashlib.sha256(lock).hexdigest()[:12]}"
    if not (target / "node_modules" / "oidc-provider").exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("Node.js and npm are needed for the OpenID Provider of this test")
        target.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy(PROVIDER_FILES / name, target / name)
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=target, check=True, capture_output=True, timeout=300)
    shutil.copy(PROVIDER_FILES / "provider.mjs", target / "provider.mjs")
    return target


class Served:
    """An ASGI app on loopback, in a thread of the test process."""

    def __init__(self, app: Any, port: int) -> None:
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@dataclass
class SignInRig:
    console: str
    issuer: str


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SignInRig]:
    modules = provider_modules()
    provider_port, console_port, referral_port = free_port(), free_port(), free_port()
    issuer, console_url = f"http://127.0.0.1:{provider_port}", f"http://127.0.0.1:{console_port}"
    env = {
        **os.environ,
        "PORT": str(provider_port),
        "REDIRECT_URI": f"{console_url}/connexion/retour",
        "CLIENT_SECRET": "a-test-secret-of-the-console",
        "ACCOUNTS": json.dumps(ACCOUNTS),
    }
    node = shutil.which("node") or "node"
    provider = subprocess.Popen(
        [node, "provider.mjs"], cwd=modules, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    served: list[Served] = []
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if provider.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(provider.stdout.read().decode() if provider.stdout else "no output") from None
                time.sleep(0.2)
        var = tmp_path_factory.mktemp("oidc")
        jwks = f"{issuer}/jwks"
        referral = build_referral(
            ReferralSettings(
                jwks_url=jwks,
                jwt_issuer=issuer,
                event_store="memory://",
                relay_enabled=False,
                consumers_enabled=False,
                var_dir=var,
            )
        )
        served.append(Served(referral, referral_port))
        console = build_console(
            ConsoleSettings(
                port=console_port,
                var_dir=var,
                jwks_url=jwks,
                oidc_issuer=issuer,
                oidc_client_id="rls-console",
                oidc_client_secret="a-test-secret-of-the-console",
                oidc_scopes="openid rls:use",
                oidc_resource="urn:ca.qc.rls:api",
                referral_url=f"http://127.0.0.1:{referral_port}",
                agreements_url="http://127.0.0.1:9",
                consent_url="http://127.0.0.1:9",
                audit_url="http://127.0.0.1:9",
            )
        )
        served.append(Served(console, console_port))
        yield SignInRig(console_url, issuer)
    finally:
        for server in served:
            server.stop()
        provider.terminate()
        provider.wait(10)


def sign_in_at_the_provider(browser: Browser, rig: SignInRig, login: str) -> Any:
    context = browser.new_context()
    page = context.new_page()
    page.goto(rig.console + "/connexion")
    page.get_by_role("link", name="Se connecter avec le fournisseur d'identité de mon organisation").click()
    page.wait_for_url(f"{rig.issuer}/**")
    assert "code_challenge_method=S256" in page.url or page.url.startswith(f"{rig.issuer}/interaction/")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", "anything")  # the provider's development login accepts any password
    page.locator("button[type=submit]").click()
    page.locator("button[type=submit]", has_text="Continue").click()  # the consent prompt
    return context, page


def test_sign_in_with_the_organisations_provider_then_the_api_accepts_its_token(
    browser: Browser, rig: SignInRig
) -> None:
    context, page = sign_in_at_the_provider(browser, rig, "lea@crise")
    try:
        page.wait_for_url(f"{rig.console}/demandes")
        expect(page.get_by_test_id("user")).to_contain_text("lea@crise — centre-crise-quebec")
        expect(page.get_by_test_id("user")).to_contain_text("accueil")
        expect(page.locator(".count")).to_have_text("0 demande(s)")  # the referral API accepted the IdP's token
        cookies = {c["name"]: c for c in context.cookies()}
        assert "__Host-rls-signin" not in cookies  # the PKCE verifier and nonce are gone once used
        assert cookies["__Host-rls-session"]["httpOnly"] and cookies["__Host-rls-session"]["secure"]
    finally:
        context.close()


def test_a_token_without_an_organisation_is_refused_with_the_reason(browser: Browser, rig: SignInRig) -> None:
    context, page = sign_in_at_the_provider(browser, rig, "sans-org")
    try:
        expect(page.get_by_role("alert")).to_contain_text("n'indique pas votre organisation")
        assert "__Host-rls-session" not in {c["name"] for c in context.cookies()}
    finally:
        context.close()


def test_a_callback_that_does_not_match_the_sign_in_request_is_refused(rig: SignInRig) -> None:
    forged = httpx.get(f"{rig.console}/connexion/retour?code=stolen&state=guessed", timeout=5)
    assert forged.status_code == 401
    assert "ne correspond pas à la demande de connexion" in forged.text


def test_a_copy_of_the_providers_session_is_refused_once_the_user_signed_out(browser: Browser, rig: SignInRig) -> None:
    context, page = sign_in_at_the_provider(browser, rig, "lea@crise")
    try:
        page.wait_for_url(f"{rig.console}/demandes")
        copy = next(c["value"] for c in context.cookies() if c["name"] == "__Host-rls-session")
        with_copy = {"Cookie": f"__Host-rls-session={copy}"}
        assert httpx.get(f"{rig.console}/demandes", headers=with_copy, timeout=10).status_code == 200
        page.get_by_role("button", name="Se déconnecter").click()
        page.wait_for_url(f"{rig.console}/connexion")
        refused = httpx.get(f"{rig.console}/demandes", headers=with_copy, timeout=10)
        assert refused.status_code == 303 and refused.headers["location"].endswith("&expiree=1")
    finally:
        context.close()
