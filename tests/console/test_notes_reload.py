"""A doctor's notes survive a reload of the console during the call (issue 15, item 5), in
headless Chromium against the real hub: the fields come back with what the hub stored, and
editing only the advice afterwards keeps the notes."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, WebSocket, expect

import wire
from tests.console.harness import Hub, sign_in
from tests.console.scripted_cabin import ScriptedCabin
from tests.console.test_console import ADVICE, NOTES, entry_of, queue_join

NEW_ADVICE = "Reposez-vous deux jours, buvez chaud."


@pytest.fixture
def cabin(hub: Hub) -> Iterator[ScriptedCabin]:
    cabin_id, token = hub.provision_cabin("Cabine de Murat")
    scripted = ScriptedCabin(hub.url, cabin_id, token)
    hub.run(scripted.connect())
    yield scripted
    hub.run(scripted.close())
    assert scripted.refused == []


@pytest.fixture
def notes_frames(page: Page) -> list[dict[str, object]]:
    """The `consultation_notes` the console sends, decoded."""
    frames: list[dict[str, object]] = []

    def watch(socket: WebSocket) -> None:
        def sent(payload: str | bytes) -> None:
            if '"consultation_notes"' in str(payload):
                frames.append(json.loads(payload))

        socket.on("framesent", sent)

    page.on("websocket", watch)
    return frames


def test_a_reload_during_the_call_restores_the_notes_and_an_advice_edit_keeps_them(
    page: Page, hub: Hub, cabin: ScriptedCabin, notes_frames: list[dict[str, object]]
) -> None:
    sign_in(page, hub)
    expect(page.locator("#waiting-room")).to_be_visible()
    hub.run(cabin.queue(queue_join(cabin, "consult-reload")))
    entry_of(page, "consult-reload").locator("[data-testid=accept-button]").click()
    hub.run(cabin.expect(wire.CallAccepted))
    status = page.locator("#notes-status")

    page.locator("#notes-text").fill(NOTES)
    page.locator("#advice-text").fill(ADVICE)
    page.locator("#notes-text").focus()  # the advice field's blur sends at once
    expect(status).to_have_attribute("data-state", "saved")
    stored = hub.run(hub.running.storage.consultation("consult-reload"))
    assert stored is not None and (stored.notes, stored.advice) == (NOTES, ADVICE)

    # the reload: the call comes back, and the fields with what the hub has
    page.reload()
    expect(page.locator("#patient-name")).to_be_visible()
    expect(page.locator("#notes-text")).to_have_value(NOTES)
    expect(page.locator("#advice-text")).to_have_value(ADVICE)

    # only the advice is edited: only the advice is sent, the notes stay
    sent_before = len(notes_frames)
    page.locator("#advice-text").fill(NEW_ADVICE)
    page.locator("#notes-text").focus()
    expect(status).to_have_attribute("data-state", "saved")
    stored = hub.run(hub.running.storage.consultation("consult-reload"))
    assert stored is not None and (stored.notes, stored.advice) == (NOTES, NEW_ADVICE)
    after_reload = notes_frames[sent_before:]
    assert after_reload and all("text" not in frame for frame in after_reload)

    # the patient leaves: the call ends, nothing of them is left on the page
    hub.run(
        cabin.send(
            wire.QueueLeave(
                msg_id=cabin.next_id("leave"),
                consultation_id="consult-reload",
                reason=wire.LeaveReason.CANCELLED,
            )
        )
    )
    expect(page.locator("#call-view")).to_have_count(0)
    assert NOTES[:12] not in page.content()
