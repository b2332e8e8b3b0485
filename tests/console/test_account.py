"""The doctor's own account in the real console (headless Chromium on the real hub): changing
the password, and the second factor an operator requires (enrolment, then a code)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.sync_api import Page, expect

from hub import totp
from hub.accounts import create_doctor, require_totp
from tests.console.harness import Hub

PASSWORD = "a long and good passphrase"
NEW_PASSWORD = "another long good passphrase"


def _create(hub: Hub, username: str) -> None:
    hub.run(
        create_doctor(
            hub.running.storage,
            username=username,
            password=PASSWORD,
            display_name=f"Dr {username}",
            specialty="Médecine générale",
            argon2_cost="test",
        )
    )


def _sign_in(page: Page, hub: Hub, username: str, password: str) -> None:
    page.goto(hub.url + "/")
    page.fill("#login-username", username)
    page.fill("#login-password", password)
    page.click("#login-submit")


def test_a_doctor_changes_their_password(page: Page, hub: Hub, screens_dir: Path) -> None:
    _create(hub, "dr.compte")
    _sign_in(page, hub, "dr.compte", PASSWORD)
    expect(page.locator("#doctor-name")).to_have_text("Dr dr.compte")
    page.click("#account-password")
    dialog = page.locator("#password-dialog")
    expect(dialog).to_be_visible()
    message = page.locator("#password-message")

    page.fill("#password-current", "not my password at all")
    page.fill("#password-new", NEW_PASSWORD)
    page.fill("#password-confirm", NEW_PASSWORD)
    page.click("#password-submit")
    expect(message).to_have_text("Le mot de passe actuel est incorrect.")

    page.fill("#password-current", PASSWORD)
    page.fill("#password-new", NEW_PASSWORD)
    page.fill("#password-confirm", "a different one, typed wrong")
    page.click("#password-submit")
    expect(message).to_have_text("Les deux nouveaux mots de passe diffèrent.")
    page.screenshot(path=screens_dir / "console-password-mismatch.png")

    page.fill("#password-confirm", NEW_PASSWORD)
    page.click("#password-submit")
    expect(message).to_have_text("Mot de passe changé. Vos autres sessions sont fermées.")
    page.screenshot(path=screens_dir / "console-password-changed.png")
    page.click("#password-close")
    expect(dialog).to_be_hidden()
    # in English too
    page.click("#lang-toggle")
    page.click("#account-password")
    page.fill("#password-new", "short")
    page.click("#password-submit")
    expect(message).to_have_text("The new password must have at least 12 characters.")
    page.screenshot(path=screens_dir / "console-password-short-en.png")
    page.click("#password-close")
    page.click("#lang-toggle")
    page.click("#logout")

    _sign_in(page, hub, "dr.compte", PASSWORD)
    expect(page.locator("#login-error")).to_have_text("Identifiant ou mot de passe incorrect.")
    _sign_in(page, hub, "dr.compte", NEW_PASSWORD)
    expect(page.locator("#doctor-name")).to_have_text("Dr dr.compte")


def test_a_required_second_factor_is_enrolled_then_asked(
    page: Page, hub: Hub, screens_dir: Path
) -> None:
    _create(hub, "dr.totp")
    hub.run(require_totp(hub.running.storage, username="dr.totp", required=True))
    _sign_in(page, hub, "dr.totp", PASSWORD)
    enrol = page.locator("#login-totp-enrol")
    expect(enrol).to_be_visible()
    secret_text = page.locator("#login-totp-secret").inner_text()
    secret = secret_text.replace(" ", "")
    assert len(secret) == 32
    uri = page.locator("#login-totp-uri").get_attribute("href")
    assert uri == totp.otpauth_uri(secret, "dr.totp")
    expect(page.locator("#login-error")).to_have_text(
        "Saisissez le code affiché par votre application d'authentification."
    )
    page.screenshot(path=screens_dir / "console-totp-enrol.png")
    page.click("#lang-toggle")
    expect(page.locator("#login-error")).to_have_text("Type the code your authenticator app shows.")
    page.screenshot(path=screens_dir / "console-totp-enrol-en.png")
    page.click("#lang-toggle")

    page.fill("#login-totp-code", "000000")
    page.click("#login-submit")
    expect(page.locator("#login-error")).to_have_text(
        "Ce code ne correspond pas à la clé : vérifiez la clé saisie dans l'application."
    )
    page.fill("#login-totp-code", totp.code_at(secret, datetime.now(UTC)))
    page.click("#login-submit")
    expect(page.locator("#doctor-name")).to_have_text("Dr dr.totp")
    page.click("#logout")

    # from now on, the code only (the next step's: the one just used is good once)
    _sign_in(page, hub, "dr.totp", PASSWORD)
    expect(page.locator("#login-totp-code")).to_be_visible()
    expect(enrol).to_be_hidden()
    page.screenshot(path=screens_dir / "console-totp-code.png")
    page.fill("#login-totp-code", totp.code_at(secret, datetime.now(UTC) + timedelta(seconds=30)))
    page.click("#login-submit")
    expect(page.locator("#doctor-name")).to_have_text("Dr dr.totp")
