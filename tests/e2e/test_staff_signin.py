"""The staff pages' shared sign-in (/console/signin.js), in Debian's Chromium, on a real hub
(loopback, SQLCipher file): on the agents' alerts (/agent), the coordination (/coordination)
and the fleet (/flotte), the form each page builds from the module says, in the page's own
words, that a field is missing and that the password is wrong, switches to English with the
error still shown, signs an agent in (the page's signed-in header), signs out (the form again,
and the hub has forgotten the session: a reload stays on the form)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from playwright.async_api import Page, async_playwright

from hub.accounts import create_agent
from simulators.doctor import CHROMIUM, CHROMIUM_ARGS
from tests.e2e.test_booking_page import booking_hub

TIMEOUT_MS = 30_000  # for what takes well under a second idle: only a real failure waits this long
AGENT = ("agent.murat", "password-of-the-agent")
# each page's own title and wrong-password message, FR then EN (their own string tables)
PAGES = {
    "/agent": ("Connexion agent", "Agent sign-in"),
    "/coordination": ("Connexion coordination", "Coordinator sign-in"),
    "/flotte": ("Connexion exploitation", "Operator sign-in"),
}


async def visible(page: Page, selector: str) -> None:
    await page.wait_for_selector(selector, state="visible", timeout=TIMEOUT_MS)


async def error_text(page: Page) -> str:
    await visible(page, '[data-testid="login-error"]')
    return (await page.text_content('[data-testid="login-error"]') or "").strip()


async def sign_in_and_out(page: Page, url: str, titles: tuple[str, str]) -> None:
    await page.goto(url)
    await visible(page, '[data-testid="login-username"]')
    assert (await page.text_content("#login-form h2")) == titles[0]
    assert await page.evaluate("document.activeElement.id") == "login-username"

    await page.click('[data-testid="login-submit"]')
    assert await error_text(page) == "Saisissez votre identifiant et votre mot de passe."

    await page.fill('[data-testid="login-username"]', "personne.ici")
    await page.fill('[data-testid="login-password"]', "not-a-password")
    await page.click('[data-testid="login-submit"]')
    await visible(page, '[data-testid="login-error"][data-i18n="login.error.credentials"]')
    assert await error_text(page) == "Identifiant ou mot de passe incorrect."
    assert await page.input_value('[data-testid="login-password"]') == ""

    await page.click('[data-testid="lang-toggle"]')
    assert (await page.text_content("#login-form h2")) == titles[1]
    assert await error_text(page) == "Wrong username or password."
    assert (await page.text_content('[data-testid="login-submit"]')) == "Sign in"
    await page.click('[data-testid="lang-toggle"]')
    assert (await page.text_content("#login-form h2")) == titles[0]

    await page.fill('[data-testid="login-username"]', AGENT[0])
    await page.fill('[data-testid="login-password"]', AGENT[1])
    await page.click('[data-testid="login-submit"]')
    await visible(page, '[data-testid="logout"]')
    assert await page.is_hidden("#login-screen")
    assert await page.is_hidden('[data-testid="login-error"]')

    await page.click('[data-testid="logout"]')
    await visible(page, '[data-testid="login-username"]')
    assert await page.is_hidden('[data-testid="logout"]')
    assert await page.is_hidden('[data-testid="login-error"]')
    await page.reload()
    await visible(page, '[data-testid="login-username"]')  # the hub forgot the session
    assert await page.is_hidden('[data-testid="logout"]')


def test_the_three_staff_pages_sign_in_with_the_shared_module(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with asyncio.timeout(120), booking_hub(tmp_path) as hub:
            await create_agent(
                hub.storage,
                username=AGENT[0],
                password=AGENT[1],
                display_name="Mairie de Murat",
                cabins=("cabin-murat",),
                argon2_cost="test",
            )
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=list(CHROMIUM_ARGS)
                )
                try:
                    context = await browser.new_context(locale="fr-FR")
                    page = await context.new_page()
                    errors: list[str] = []
                    page.on("pageerror", lambda error: errors.append(str(error)))
                    page.on(
                        "console",
                        lambda m: errors.append(m.text) if m.type == "error" else None,
                    )
                    for path, titles in PAGES.items():
                        await sign_in_and_out(page, f"{hub.url}{path}", titles)
                    # the 401 of /api/me before signing in is the only console error allowed
                    assert [e for e in errors if "401" not in e and "403" not in e] == []
                finally:
                    await browser.close()

    asyncio.run(scenario())
