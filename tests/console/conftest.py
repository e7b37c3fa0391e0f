"""The platform as `rls run` starts it (five services and the console, real broker, demo network), and headless
Chromium from Debian's package driven by Playwright (its own browser download is not used)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from services.runtime.launcher import Platform
from tests.helpers import CHROMIUM_FLAGS, chromium_path, running_platform

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "console-screenshots"


@dataclass
class Running:
    platform: Platform
    var: Path

    @property
    def console(self) -> str:
        return self.platform.urls["console"]

    @property
    def console_log(self) -> Path:
        return self.var / "log" / "console.log"


@pytest.fixture(scope="package")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """With a broker of its own: the demo network this platform loads goes on `rls.agreements.v1`, which another
    test platform's consent service would otherwise read too (same organisations, other agreement ids)."""
    var = tmp_path_factory.mktemp("console-platform")
    with running_platform(var) as platform:
        yield Running(platform, var)


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class User:
    """One person at one browser (own cookies), on the console."""

    page: Page
    base: str
    steps: list[str] = field(default_factory=list)

    def go(self, path: str) -> Any:
        return self.page.goto(self.base + path)

    def sign_in(self, org: str, *roles: str, sub: str) -> None:
        self.go("/connexion")
        self.page.select_option("#f-org", org)
        for box in self.page.locator("input[name=roles]").all():
            box.set_checked(box.get_attribute("value") in roles)
        self.page.fill("#f-sub", sub)
        self.page.get_by_role("button", name="Se connecter").click()
        self.page.wait_for_url("**/demandes**")

    def sign_out(self) -> None:
        self.page.get_by_role("button", name="Se déconnecter").click()
        self.page.wait_for_url("**/connexion**")

    def shot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        self.steps.append(name)
        return path


@pytest.fixture
def user_for(browser: Browser, running: Running) -> Iterator[Any]:
    """`user_for(width=1280)` → a User in a fresh browser context (a tablet is 820 wide)."""
    contexts = []

    def make(width: int = 1280, height: int = 900) -> User:
        context = browser.new_context(viewport={"width": width, "height": height}, locale="fr-CA")
        contexts.append(context)
        return User(context.new_page(), running.console)

    yield make
    for context in contexts:
        context.close()
