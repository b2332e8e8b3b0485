"""What only a cabin says is marked in the console's history (issue 15, item 3), in headless
Chromium against the real hub: a record of a consultation the hub never held shows "déclaré
par la cabine, non vérifié", names no doctor, and its prescription is marked not verified."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

import wire
from tests.console.harness import Hub, sign_in
from tests.console.scripted_cabin import ScriptedCabin
from tests.console.test_console import entry_of, vital
from tests.hub.test_history import LINE
from tests.hub.test_record_forgery import DR_A_AS_CLAIMED, upload

ODETTE = wire.PatientSummary(
    family_name="Vigier", given_names="Odette", birth_date=date(1941, 2, 9), sex=wire.Sex.FEMALE
)


@pytest.fixture
def cabin(hub: Hub) -> Iterator[ScriptedCabin]:
    cabin_id, token = hub.provision_cabin("Cabine d'Allanche")
    scripted = ScriptedCabin(hub.url, cabin_id, token)
    hub.run(scripted.connect())
    yield scripted
    hub.run(scripted.close())
    assert scripted.refused == []


def test_a_record_the_hub_never_held_is_marked_as_the_cabins_word(
    page: Page, hub: Hub, cabin: ScriptedCabin, screens_dir: Path
) -> None:
    a_week_ago = datetime.now(UTC).replace(microsecond=0) - timedelta(days=7)
    forged = upload(
        "consult-forged",
        cabin_id=cabin.cabin_id,
        who=ODETTE,
        started_at=a_week_ago,
        doctor=DR_A_AS_CLAIMED,
        doctor_id="dr.durand",
        prescriptions=(
            wire.PrescriptionMessage(
                msg_id="rx-forged",
                prescription_id="RX-2025-000777-ABCD",
                consultation_id="consult-forged",
                issued_at=a_week_ago,
                prescriber=DR_A_AS_CLAIMED,
                lines=[LINE],
                key_id="0000000000000000",
                signature="A" * 86 + "==",
            ),
        ),
    )
    hub.run(cabin.send(forged))
    hub.run(cabin.expect(wire.RecordAck, lambda ack: ack.record_id == forged.record_id))

    sign_in(page, hub)
    expect(page.locator("#waiting-room")).to_be_visible()
    hub.run(
        cabin.queue(
            wire.QueueJoin(
                msg_id=cabin.next_id("join"),
                consultation_id="consult-odette",
                language=wire.Language.FR,
                patient=ODETTE,
                reason="vertiges",
                age_years=85,
                vitals=[vital(wire.VitalKind.TEMPERATURE, 2, temperature_c=36.9)],
            )
        )
    )
    entry_of(page, "consult-odette").locator("[data-testid=accept-button]").click()
    history = page.locator("[data-testid=history-entry]")
    expect(history).to_have_count(1)
    expect(history).to_have_attribute("data-verified", "false")
    expect(history.locator("[data-testid=history-unverified]")).to_have_text(
        "déclaré par la cabine, non vérifié"
    )
    expect(history.locator("summary")).to_contain_text("aucun médecin vérifié")
    expect(history.locator("summary")).not_to_contain_text("Dr A")
    history.locator("summary").click()
    expect(history.locator("[data-testid=prescription-unverified]")).to_have_text(
        "déclarée par la cabine, non vérifiée"
    )
    expect(history.locator("[data-testid=prescription-verified]")).to_have_count(0)
    page.screenshot(path=screens_dir / "console-history-unverified.png", full_page=True)
    page.click("[data-testid=lang-toggle]")
    expect(history.locator("[data-testid=history-unverified]")).to_have_text(
        "reported by the cabin, not verified"
    )
    page.screenshot(path=screens_dir / "console-history-unverified-en.png", full_page=True)
    page.click("[data-testid=lang-toggle]")

    hub.run(
        cabin.send(
            wire.QueueLeave(
                msg_id=cabin.next_id("leave"),
                consultation_id="consult-odette",
                reason=wire.LeaveReason.CANCELLED,
            )
        )
    )
    expect(page.locator("#call-view")).to_have_count(0)
