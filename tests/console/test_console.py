"""The doctor's console in headless Chromium against the real hub: sign in, the waiting room,
taking a patient, the earlier consultations, notes, the prescription, hanging up (and nothing of
the patient left on the page), a doctor who clicks too late, and a real WebRTC call with an
aiortc cabin on loopback."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, Route, WebSocket, WebSocketRoute, expect

import wire
from tests.console.cabin_peer import CabinPeer, loopback_only_ice
from tests.console.harness import DOCTOR, OTHER_DOCTOR, PATIENCE_S, Hub, sign_in, wait_js
from tests.console.scripted_cabin import DoctorClient, ScriptedCabin

PATIENT = wire.PatientSummary(
    family_name="Lefèvre",
    given_names="Jeanne Marie",
    birth_date=date(1944, 5, 17),
    sex=wire.Sex.FEMALE,
)
REASON = "Toux depuis cinq jours <b>et fièvre</b>"
NOTES = "Toux grasse, auscultation à faire au cabinet. Revoir dans 48 h."
ADVICE = "Buvez beaucoup d'eau, reposez-vous. Consultez si la fièvre dure plus de 3 jours."


def age_of(birth: date) -> int:
    today = date.today()
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def vital(kind: wire.VitalKind, minutes_ago: float = 0, **values: float) -> wire.Vital:
    return wire.Vital(
        kind=kind,
        measured_at=datetime.now(UTC) - timedelta(minutes=minutes_ago),
        device_id=f"{kind.value}-1",
        **values,
    )


def queue_join(cabin: ScriptedCabin, consultation_id: str, reason: str = REASON) -> wire.QueueJoin:
    return wire.QueueJoin(
        msg_id=cabin.next_id("join"),
        consultation_id=consultation_id,
        language=wire.Language.FR,
        patient=PATIENT,
        reason=reason,
        age_years=age_of(PATIENT.birth_date),
        vitals=[
            vital(wire.VitalKind.BLOOD_PRESSURE, 4, systolic_mmhg=152, diastolic_mmhg=88),
            vital(wire.VitalKind.TEMPERATURE, 3, temperature_c=37.2),
        ],
    )


@pytest.fixture
def cabin(hub: Hub) -> Iterator[ScriptedCabin]:
    cabin_id, token = hub.provision_cabin("Cabine de Saint-Flour")
    scripted = ScriptedCabin(hub.url, cabin_id, token)
    hub.run(scripted.connect())
    yield scripted
    hub.run(scripted.close())
    assert scripted.refused == []


@pytest.fixture
def sent_frames(page: Page) -> Iterator[list[str]]:
    """Every frame the console sends on its websocket; each must decode as `ConsoleToHub`."""
    frames: list[str] = []

    def watch(socket: WebSocket) -> None:
        socket.on("framesent", lambda payload: frames.append(str(payload)))

    page.on("websocket", watch)
    yield frames
    for frame in frames:
        wire.decode(frame, allowed=wire.ConsoleToHub)


def entry_of(page: Page, consultation_id: str) -> Locator:
    return page.locator(f'[data-testid=waiting-entry][data-consultation-id="{consultation_id}"]')


def test_sign_in_take_write_prescribe_hang_up(
    page: Page, hub: Hub, cabin: ScriptedCabin, sent_frames: list[str], screens_dir: Path
) -> None:
    # sign in: a wrong password, said plainly, then the right one
    sign_in(page, hub, password="not the password at all")
    expect(page.locator("#login-error")).to_have_text("Identifiant ou mot de passe incorrect.")
    page.screenshot(path=screens_dir / "console-login-error.png")
    page.fill("#login-password", DOCTOR.password)
    page.click("#login-submit")
    expect(page.locator("#waiting-room")).to_be_visible()
    expect(page.locator("#doctor-name")).to_have_text(DOCTOR.display_name)
    expect(page.locator("#ws-banner")).to_be_hidden()

    # the waiting room: who waits, since when, with which vitals
    hub.run(cabin.queue(queue_join(cabin, "consult-1")))
    entry = entry_of(page, "consult-1")
    expect(entry).to_contain_text(f"{age_of(PATIENT.birth_date)} ans")
    expect(entry.locator("[data-testid=entry-sex]")).to_have_text("Femme")
    expect(entry.locator("[data-testid=entry-language]")).to_have_text("Français")
    expect(entry.locator("[data-testid=entry-reason]")).to_have_text(REASON)  # as text, not HTML
    expect(entry.locator("[data-testid=entry-vitals]")).to_contain_text("152/88 mmHg▲ élevé")
    expect(entry.locator("[data-testid=entry-vitals]")).to_contain_text("37,2 °C")
    expect(entry).to_contain_text(cabin.cabin_id)
    wait_time = entry.locator("[data-testid=wait-time]")
    expect(wait_time).to_have_text(re.compile(r"^\d+ (min \d\d )?s$"))
    first = wait_time.inner_text()
    expect(wait_time).not_to_have_text(first)  # it ticks
    page.screenshot(path=screens_dir / "console-waiting-room.png")
    page.click("[data-testid=lang-toggle]")
    expect(page.locator("#waiting-title")).to_have_text("Waiting room")
    page.screenshot(path=screens_dir / "console-waiting-room-en.png")
    page.click("[data-testid=lang-toggle]")
    expect(page.locator("#waiting-title")).to_have_text("Salle d'attente")

    # take the patient: the call screen, the vitals from the waiting room, no history yet
    entry.locator("[data-testid=accept-button]").click()
    expect(page.locator("#patient-name")).to_have_text("LEFÈVRE Jeanne Marie")
    expect(page.locator("#patient-birth")).to_have_text("née le 17/05/1944")
    expect(page.locator("#patient-sex")).to_have_text("Femme")
    expect(page.locator("#patient-language")).to_have_text("Français")
    accepted = hub.run(cabin.expect(wire.CallAccepted))
    assert accepted.consultation_id == "consult-1"
    assert accepted.patient is None
    expect(page.locator("#call-state")).to_have_attribute("data-state", "waiting-offer")
    expect(page.locator("#remote-video")).to_have_count(1)
    expect(page.locator("#local-video")).to_have_count(1)
    expect(page.locator("[data-vital=systolic_mmhg]")).to_have_text("152")
    expect(page.locator("[data-vital=systolic_mmhg]")).to_have_attribute("data-flag", "high")
    expect(page.locator("[data-vital=diastolic_mmhg]")).to_have_attribute("data-flag", "ok")
    expect(page.locator("[data-testid=history-empty]")).to_have_text(
        "Aucune consultation antérieure"
    )

    # a reading taken in the cabin reaches the console through the hub
    hub.run(
        cabin.send(
            wire.ReadingMessage(
                msg_id=cabin.next_id("reading"),
                consultation_id="consult-1",
                reading=vital(wire.VitalKind.TEMPERATURE, temperature_c=38.6),
            )
        )
    )
    expect(page.locator("[data-vital=temperature_c]")).to_have_text("38,6")
    expect(page.locator("[data-vital=temperature_c]")).to_have_attribute("data-flag", "high")

    # notes: sent after a pause in typing, "enregistré" on the hub's Ack
    page.locator("#notes-text").press_sequentially(NOTES[:20])
    page.locator("#notes-text").fill(NOTES)
    expect(page.locator("#notes-status")).to_have_attribute("data-state", "saved")
    expect(page.locator("#notes-status")).to_contain_text("enregistré")

    # advice for the patient: same path, and the hub sends it on to the cabin
    expect(page.locator("label[for=advice-text]")).to_have_text(
        "Conseils pour le patient (imprimés sur son compte rendu)"
    )
    page.locator("#advice-text").press_sequentially(ADVICE[:12])
    page.locator("#advice-text").fill(ADVICE)
    expect(page.locator("#notes-status")).to_have_attribute("data-state", "unsaved")
    expect(page.locator("#notes-status")).to_have_attribute("data-state", "saved")
    advice = hub.run(cabin.expect(wire.PatientAdvice, lambda a: a.text == ADVICE))
    assert advice.consultation_id == "consult-1"
    hub.run(cabin.send(wire.Ack(msg_id=cabin.next_id("ack"), ack_of=advice.msg_id)))
    notes_sent = [f for f in sent_frames if '"consultation_notes"' in f]
    assert json.loads(notes_sent[-1])["advice"] == ADVICE
    assert "text" not in json.loads(notes_sent[-1])  # only what was edited: the notes stay
    assert any(json.loads(frame).get("text") == NOTES for frame in notes_sent)

    # the prescription: refused while incomplete, then sent, numbered and signed by the hub
    page.click("#presc-send")
    expect(page.locator("#presc-error")).to_have_text(
        "Complétez les champs signalés avant l'envoi."
    )
    expect(page.locator("#presc-lines [aria-invalid=true]")).to_have_count(4)
    expect(page.locator("#presc-0-drug-error")).to_have_text("Champ obligatoire")
    page.screenshot(path=screens_dir / "console-prescription-invalid.png", full_page=True)
    page.fill("#presc-0-drug", "Paracétamol 1 g")
    page.fill("#presc-0-dose", "1 comprimé")
    page.fill("#presc-0-frequency", "3 fois par jour")
    page.fill("#presc-0-duration", "5 jours")
    page.fill("#presc-0-renewals", "13")
    page.click("#presc-add")
    page.fill("#presc-1-drug", "Carbocistéine")
    expect(page.locator("[data-testid=presc-line]")).to_have_count(2)
    page.click("#presc-send")
    expect(page.locator("#presc-0-renewals-error")).to_have_text("Entre 0 et 12")
    expect(page.locator("#presc-1-dose-error")).to_have_text("Champ obligatoire")
    page.locator("[data-testid=presc-remove]").nth(1).click()
    expect(page.locator("[data-testid=presc-line]")).to_have_count(1)
    page.fill("#presc-0-renewals", "1")
    page.fill("#presc-0-instructions", "Si douleur ou fièvre, 6 h entre deux prises")
    page.click("#presc-send")
    sent = page.locator("[data-testid=presc-sent]")
    expect(sent).to_have_count(1)
    prescription = hub.run(cabin.expect(wire.PrescriptionMessage))
    assert prescription.consultation_id == "consult-1"
    assert [(line.drug, line.renewals) for line in prescription.lines] == [("Paracétamol 1 g", 1)]
    expect(sent).to_have_attribute("data-prescription-id", prescription.prescription_id)
    expect(sent).to_contain_text(f"Ordonnance n° {prescription.prescription_id} envoyée")
    # no data channel here: the console learns from the hub that the cabin has it
    delivery = sent.locator("[data-testid=presc-delivery]")
    expect(delivery).to_have_text("en attente de la cabine…")
    hub.run(cabin.send(wire.Ack(msg_id=cabin.next_id("ack"), ack_of=prescription.msg_id)))
    expect(delivery).to_have_text("reçue par la cabine")
    expect(sent).to_have_attribute("data-delivery", "delivered")
    expect(page.locator("#presc-0-drug")).to_have_value("")  # a blank editor for the next one
    page.screenshot(path=screens_dir / "console-call-no-media.png", full_page=True)

    # hang up: the cabin is told, and nothing of the patient is left on the page
    page.click("#hangup")
    end = hub.run(cabin.expect(wire.CallEnd))
    assert end.consultation_id == "consult-1"
    assert end.reason is wire.CallEndReason.COMPLETED
    expect(page.locator("#waiting-room")).to_be_visible()
    expect(page.locator("#waiting-notice")).to_have_text("Consultation terminée : raccrochée.")
    expect(page.locator("#call-view")).to_have_count(0)
    expect(entry).to_have_count(0)
    html = page.content()
    traces = (
        "Lefèvre",
        "LEFÈVRE",
        "Jeanne",
        "1944",
        "Toux",
        "Paracétamol",
        NOTES[:12],
        ADVICE[:12],
    )
    for trace in traces:
        assert trace not in html, trace
    assert page.locator("video").count() == 0
    page.screenshot(path=screens_dir / "console-after-hang-up.png")

    # the same patient comes back: the first consultation is in the history
    hub.run(cabin.queue(queue_join(cabin, "consult-2", reason="Contrôle")))
    entry_of(page, "consult-2").locator("[data-testid=accept-button]").click()
    history = page.locator("[data-testid=history-entry]")
    expect(history).to_have_count(1)
    expect(history).to_contain_text(f"{DOCTOR.display_name} ({DOCTOR.specialty})")
    expect(history.locator("summary")).to_contain_text(REASON)
    history.locator("summary").click()
    expect(history).to_contain_text(NOTES)
    expect(history.locator("[data-testid=history-advice]")).to_have_text(ADVICE)
    expect(history).to_contain_text("Paracétamol 1 g")
    expect(history).to_contain_text(prescription.prescription_id)
    page.screenshot(path=screens_dir / "console-history.png", full_page=True)

    # the patient leaves: the console goes back to the waiting room and says why
    hub.run(
        cabin.send(
            wire.CallEnd(
                msg_id=cabin.next_id("end"),
                consultation_id="consult-2",
                reason=wire.CallEndReason.PATIENT_LEFT,
            )
        )
    )
    expect(page.locator("#waiting-notice")).to_contain_text("le patient a quitté la cabine")
    expect(page.locator("#call-view")).to_have_count(0)
    assert NOTES[:12] not in page.content()

    # sign out
    page.click("#logout")
    expect(page.locator("#login-form")).to_be_visible()
    page.reload()
    expect(page.locator("#login-form")).to_be_visible()
    assert any('"take_consultation"' in frame for frame in sent_frames)


def test_too_late_for_a_patient_another_doctor_took(
    page: Page, hub: Hub, cabin: ScriptedCabin, screens_dir: Path
) -> None:
    held: list[tuple[WebSocketRoute, str | bytes]] = []
    holding = {"waiting_room": False}

    def route(socket: WebSocketRoute) -> None:
        """Between the hub and the page: hold back the waiting room's updates on demand, so
        that the page still offers a patient another doctor has just taken."""
        server = socket.connect_to_server()

        def from_hub(message: str | bytes) -> None:
            if holding["waiting_room"] and '"waiting_room"' in str(message):
                held.append((socket, message))
            else:
                socket.send(message)

        server.on_message(from_hub)

    page.route_web_socket(re.compile(r".*/ws/console.*"), route)
    sign_in(page, hub)
    hub.run(cabin.queue(queue_join(cabin, "consult-late")))
    entry = entry_of(page, "consult-late")
    expect(entry.locator("[data-testid=accept-button]")).to_be_enabled()

    holding["waiting_room"] = True
    other = DoctorClient(hub.url)
    try:
        hub.run(other.sign_in(OTHER_DOCTOR.username, OTHER_DOCTOR.password))
        hub.run(
            other.send(
                wire.TakeConsultation(msg_id=other.next_id("take"), consultation_id="consult-late")
            )
        )
        hub.run(other.expect(wire.CallAccepted))
        entry.locator("[data-testid=accept-button]").click()
        expect(page.locator("#waiting-notice")).to_have_text(
            "Un autre médecin a pris ce patient en charge juste avant vous."
        )
        expect(page.locator("#call-view")).to_have_count(0)
        page.screenshot(path=screens_dir / "console-conflict.png")

        holding["waiting_room"] = False
        for socket, message in held:
            socket.send(message)
        expect(entry).to_have_attribute("data-taken", "true")
        expect(entry.locator("[data-testid=entry-taken]")).to_have_text(
            f"Pris en charge par {OTHER_DOCTOR.display_name}"  # a name, not a username
        )
        expect(entry.locator("[data-testid=accept-button]")).to_have_count(0)
        page.screenshot(path=screens_dir / "console-waiting-room-taken.png")
        hub.run(
            other.send(
                wire.CallEnd(
                    msg_id=other.next_id("end"),
                    consultation_id="consult-late",
                    reason=wire.CallEndReason.COMPLETED,
                )
            )
        )
        hub.run(cabin.expect(wire.CallEnd))
    finally:
        hub.run(other.close())


def test_an_offline_cabin_is_shown_before_the_doctor_clicks(
    page: Page, hub: Hub, cabin: ScriptedCabin, screens_dir: Path
) -> None:
    sign_in(page, hub)
    hub.run(cabin.queue(queue_join(cabin, "consult-offline")))
    entry = entry_of(page, "consult-offline")
    accept = entry.locator("[data-testid=accept-button]")
    offline = entry.locator("[data-testid=entry-offline]")
    expect(accept).to_be_enabled()
    expect(offline).to_have_count(0)
    expect(entry).to_have_attribute("data-cabin-online", "true")

    # the cabin drops: said at once, and the button cannot be clicked
    hub.run(cabin.close())
    expect(offline).to_have_text("Cabine hors ligne — reconnexion en attente")
    expect(entry).to_have_attribute("data-cabin-online", "false")
    expect(accept).to_be_disabled()
    expect(page.locator("#waiting-count")).to_have_text("1 patient(s) en attente")
    page.screenshot(path=screens_dir / "console-waiting-room-cabin-offline.png")
    page.click("[data-testid=lang-toggle]")
    expect(offline).to_have_text("Cabin offline — waiting for it to reconnect")
    expect(accept).to_be_disabled()
    page.screenshot(path=screens_dir / "console-waiting-room-cabin-offline-en.png")
    page.click("[data-testid=lang-toggle]")
    expect(offline).to_have_text("Cabine hors ligne — reconnexion en attente")

    # it comes back: the patient can be taken again
    back = ScriptedCabin(hub.url, cabin.cabin_id, cabin.token)
    hub.run(back.connect())
    try:
        expect(offline).to_have_count(0)
        expect(accept).to_be_enabled()
        expect(entry).to_have_attribute("data-cabin-online", "true")
        leave = wire.QueueLeave(
            msg_id=back.next_id("leave"),
            consultation_id="consult-offline",
            reason=wire.LeaveReason.CANCELLED,
        )
        hub.run(back.send(leave))
        hub.run(back.expect(wire.Ack, lambda a: a.ack_of == leave.msg_id))
        expect(entry).to_have_count(0)
    finally:
        hub.run(back.close())
    assert back.refused == []


def test_login_refusals_follow_the_hubs_reason(page: Page, hub: Hub, screens_dir: Path) -> None:
    """A lock with less than two minutes left is still a lock, and a rate limit is not one."""
    answers = [
        {"error": "too many attempts; try again later", "reason": "locked", "retry_after_s": 45},
        {
            "error": "too many attempts; try again later",
            "reason": "rate_limited",
            "retry_after_s": 30,
        },
    ]

    def refuse(route: Route) -> None:
        body = answers.pop(0)
        route.fulfill(
            status=429,
            content_type="application/json",
            headers={"Retry-After": str(body["retry_after_s"])},
            body=json.dumps(body),
        )

    page.route("**/api/login", refuse)
    sign_in(page, hub)
    error = page.locator("#login-error")
    expect(error).to_have_text("Compte verrouillé après plusieurs essais : réessayez dans 1 min.")
    expect(error).to_have_attribute("data-kind", "login.error.locked")
    page.screenshot(path=screens_dir / "console-login-locked.png")
    page.fill("#login-password", DOCTOR.password)
    page.click("#login-submit")
    expect(error).to_have_text("Trop de tentatives depuis ce poste : réessayez dans 30 s.")
    expect(error).to_have_attribute("data-kind", "login.error.rate")
    assert answers == []


def test_lost_websocket_shows_a_banner_and_reconnects(
    page: Page, hub: Hub, screens_dir: Path
) -> None:
    sockets: list[WebSocketRoute] = []
    refusing = {"on": False, "refused": 0}

    def route(socket: WebSocketRoute) -> None:
        """Between the hub and the page: cut the connection, and refuse new ones on demand."""
        if refusing["on"]:
            refusing["refused"] += 1
            socket.close()
            return
        socket.connect_to_server()
        sockets.append(socket)

    page.route_web_socket(re.compile(r".*/ws/console.*"), route)
    sign_in(page, hub)
    expect(page.locator("#waiting-room")).to_be_visible()
    expect(page.locator("#ws-banner")).to_have_attribute("data-state", "open")
    expect(page.locator("#ws-banner")).to_be_hidden()
    refusing["on"] = True
    sockets[-1].close()
    banner = page.locator("#ws-banner")
    expect(banner).to_have_text("Connexion au serveur perdue, reconnexion…")
    expect(banner).to_have_attribute("data-state", "lost")
    deadline = time.monotonic() + PATIENCE_S
    while refusing["refused"] < 2:  # a few refused attempts, backing off
        assert time.monotonic() < deadline, f"{refusing['refused']} attempt(s) to reconnect"
        page.wait_for_timeout(100)
    page.screenshot(path=screens_dir / "console-connection-lost.png")
    refusing["on"] = False
    expect(banner).to_be_hidden()
    assert len(sockets) == 2


def test_call_with_an_aiortc_cabin(
    page: Page, hub: Hub, cabin: ScriptedCabin, sent_frames: list[str], screens_dir: Path
) -> None:
    sign_in(page, hub)
    hub.run(cabin.queue(queue_join(cabin, "consult-call")))
    entry_of(page, "consult-call").locator("[data-testid=accept-button]").click()
    hub.run(cabin.expect(wire.CallAccepted))
    peer = CabinPeer("consult-call", cabin.send)
    with loopback_only_ice():
        try:
            _call(page, hub, cabin, peer, screens_dir)
        finally:
            hub.run(peer.close())
    assert peer.refused == []


def _call(page: Page, hub: Hub, cabin: ScriptedCabin, peer: CabinPeer, screens: Path) -> None:
    # the cabin offers, the console answers: video, data channel, heartbeats both ways
    hub.run(peer.offer())
    answer = hub.run(cabin.expect(wire.SdpAnswer))
    assert "a=candidate" in answer.sdp  # gathered before answering
    hub.run(peer.on_answer(answer))
    plays = (
        "(() => { const v = document.querySelector('#remote-video');"
        " return v && v.videoWidth === 640 && v.currentTime > %s; })()"
    )
    wait_js(page, plays % 0.2)
    expect(page.locator("#call-state")).to_have_attribute("data-state", "connected")
    expect(page.locator("#link-state")).to_have_attribute("data-state", "connected")
    expect(page.locator("#link-overlay")).to_be_hidden()
    hub.until(lambda: len(peer.of_type(wire.Heartbeat)) >= 2)

    # a reading sent twice (the cabin resends until acked): shown once, acked each time
    reading = vital(wire.VitalKind.SPO2, spo2_percent=91, pulse_bpm=104)
    hub.call(lambda: peer.send_reading(reading, msg_id="reading-spo2"))
    hub.call(lambda: peer.send_reading(reading, msg_id="reading-spo2"))
    expect(page.locator("[data-vital=spo2_percent]")).to_have_text("91")
    expect(page.locator("[data-vital=spo2_percent]")).to_have_attribute("data-flag", "low")
    expect(page.locator("[data-vital=pulse_bpm]")).to_have_attribute("data-flag", "high")
    hub.until(
        lambda: (
            sum(
                1
                for m in peer.of_type(wire.Ack)
                if isinstance(m, wire.Ack) and m.ack_of == "reading-spo2"
            )
            == 2
        )
    )
    expect(page.locator("[data-card=spo2] .vital-meta")).to_contain_text("1 mesure(s)")

    # a measurement asked from the console: "demandé…" until the reading arrives
    page.click("[data-measure=blood_pressure]")
    expect(page.locator("[data-measure-status=blood_pressure]")).to_have_text("demandé…")
    hub.until(lambda: bool(peer.of_type(wire.MeasureRequest)))
    request = peer.of_type(wire.MeasureRequest)[0]
    assert isinstance(request, wire.MeasureRequest)
    assert request.kind is wire.VitalKind.BLOOD_PRESSURE
    bp = vital(wire.VitalKind.BLOOD_PRESSURE, systolic_mmhg=128, diastolic_mmhg=82, pulse_bpm=72)
    hub.call(lambda: peer.send_reading(bp))
    expect(page.locator("[data-vital=systolic_mmhg]")).to_have_text("128")
    expect(page.locator("[data-measure-status=blood_pressure]")).to_have_text("")

    # silence on the data channel: "Reconnexion…" over the video, gone when it speaks again
    peer.heartbeats_paused = True
    expect(page.locator("#link-state")).to_have_attribute("data-state", "reconnecting")
    expect(page.locator("#link-overlay")).to_be_visible()
    page.screenshot(path=screens / "console-call-reconnecting.png")
    peer.heartbeats_paused = False
    expect(page.locator("#link-state")).to_have_attribute("data-state", "connected")
    expect(page.locator("#link-overlay")).to_be_hidden()

    # the prescription: through the hub, then forwarded on the data channel, acked by the cabin
    page.fill("#presc-0-drug", "Paracétamol 1 g")
    page.fill("#presc-0-dose", "1 comprimé")
    page.fill("#presc-0-frequency", "3 fois par jour")
    page.fill("#presc-0-duration", "5 jours")
    page.click("#presc-send")
    from_hub = hub.run(cabin.expect(wire.PrescriptionMessage))
    hub.until(lambda: bool(peer.of_type(wire.PrescriptionMessage)))
    forwarded = peer.of_type(wire.PrescriptionMessage)[0]
    assert isinstance(forwarded, wire.PrescriptionMessage)
    assert forwarded.msg_id != from_hub.msg_id
    assert wire.encode(forwarded).replace(forwarded.msg_id.encode(), b"") == wire.encode(
        from_hub
    ).replace(from_hub.msg_id.encode(), b"")
    expect(page.locator("[data-testid=presc-delivery]")).to_have_text("reçue par la cabine")

    # the link's quality from getStats, with its numbers
    expect(page.locator("#link-quality")).to_have_attribute(
        "data-quality", re.compile("^(good|medium|poor)$")
    )
    expect(page.locator("#link-quality-details")).to_contain_text("kbit/s")
    page.screenshot(path=screens / "console-call.png", full_page=True)

    # the cabin reconnects (new peer connection, new offer): the console answers again
    seen = len(cabin.received)
    hub.run(peer.offer())
    again = hub.run(cabin.expect(wire.SdpAnswer, after=seen))
    hub.run(peer.on_answer(again))
    hub.run(peer.channel_open.wait())
    wait_js(page, plays % 0.2)
    expect(page.locator("#link-state")).to_have_attribute("data-state", "connected")
    expect(page.locator("#call-state")).to_have_attribute("data-state", "connected")

    # the doctor reloads the page: the hub gives the call back, the cabin offers again
    page.reload()
    expect(page.locator("#patient-name")).to_have_text("LEFÈVRE Jeanne Marie")
    expect(page.locator("#call-state")).to_have_attribute("data-state", "waiting-offer")
    seen = len(cabin.received)
    hub.run(peer.offer())
    reloaded = hub.run(cabin.expect(wire.SdpAnswer, after=seen))
    hub.run(peer.on_answer(reloaded))
    wait_js(page, plays % 0.2)
    expect(page.locator("#link-state")).to_have_attribute("data-state", "connected")

    # hang up: CallEnd on the data channel and through the hub, camera released
    page.click("#hangup")
    end = hub.run(cabin.expect(wire.CallEnd))
    assert end.reason is wire.CallEndReason.COMPLETED
    hub.until(lambda: bool(peer.of_type(wire.CallEnd)))
    expect(page.locator("#call-view")).to_have_count(0)
    assert "LEFÈVRE" not in page.content()


@pytest.mark.parametrize(
    ("language", "said"),
    [("fr", "le patient a terminé l'appel"), ("en", "the patient ended the call")],
)
def test_the_console_says_the_patient_ended_the_call(
    page: Page, hub: Hub, cabin: ScriptedCabin, screens_dir: Path, language: str, said: str
) -> None:
    """Not "the patient left the cabin": they are still there, taking what the doctor sent."""
    sign_in(page, hub)
    expect(page.locator("#waiting-room")).to_be_visible()
    if language == "en":
        page.click("[data-testid=lang-toggle]")
        expect(page.locator("#waiting-title")).to_have_text("Waiting room")
    hub.run(cabin.queue(queue_join(cabin, f"consult-ended-{language}")))
    entry_of(page, f"consult-ended-{language}").locator("[data-testid=accept-button]").click()
    expect(page.locator("#patient-name")).to_be_visible()
    hub.run(
        cabin.send(
            wire.CallEnd(
                msg_id=cabin.next_id("end"),
                consultation_id=f"consult-ended-{language}",
                reason=wire.CallEndReason.PATIENT_ENDED,
            )
        )
    )
    expect(page.locator("#waiting-notice")).to_contain_text(said)
    expect(page.locator("#call-view")).to_have_count(0)
    page.screenshot(path=screens_dir / f"console-patient-ended-{language}.png")
