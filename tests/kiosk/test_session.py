"""The consultation session state machine: every move, every refusal, every timeout."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime

import pytest

from devices.reading import Quantity, Reading, ReadingKind, Value
from kiosk.bus import EventBus
from kiosk.errors import IllegalTransition
from kiosk.events import SessionStateChanged
from kiosk.patient import PatientIdentity
from kiosk.session import PatientContext, Session, SessionTimeouts
from kiosk.session_states import (
    INACTIVITY_STATES,
    PATIENT_STATES,
    TRANSITIONS,
    EndReason,
    Overlay,
    SessionState,
)

S = SessionState
TIMEOUTS = SessionTimeouts(inactivity_s=90, still_there_countdown_s=30, assistant_s=120)
PATIENT = PatientIdentity("Quelennec", "Yvonne", date(1938, 5, 2))
READING = Reading(
    "bp-1",
    ReadingKind.BLOOD_PRESSURE,
    (Value(Quantity.SYSTOLIC_MMHG, 132), Value(Quantity.DIASTOLIC_MMHG, 84)),
    datetime(2026, 11, 22, 10, 0, tzinfo=UTC),
)
JOURNEY = [S.IDLE, S.WELCOME, S.IDENTIFY, S.CONSENT, S.VITALS, S.WAITING_ROOM, S.CALL]
JOURNEY += [S.CLOSING, S.SURVEY, S.CLEANING]


def in_order(states: frozenset[SessionState]) -> list[SessionState]:
    return [state for state in JOURNEY if state in states]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Recorder:
    def __init__(self, bus: EventBus) -> None:
        self.events: list[SessionStateChanged] = []
        bus.subscribe(SessionStateChanged, self.events.append)


def make() -> tuple[Session, FakeClock, Recorder]:
    bus = EventBus()
    clock = FakeClock()
    return Session(bus, clock, TIMEOUTS), clock, Recorder(bus)


def step(session: Session, target: SessionState) -> None:
    """One journey move, with the data the move needs."""
    if target is S.CONSENT:
        session.set_patient(PATIENT)
    if target is S.VITALS:
        session.give_consent("patient-1", "consultation-1")
    if target is S.CLEANING and session.state is S.SURVEY:
        session.end(EndReason.COMPLETED)
        return
    session.advance(target)


def reach(session: Session, target: SessionState) -> None:
    for state in JOURNEY[1 : JOURNEY.index(target) + 1]:
        step(session, state)
    assert session.state is target


def test_the_whole_journey_and_back_to_idle() -> None:
    session, _, recorder = make()
    reach(session, S.CLEANING)
    session.advance(S.IDLE)
    assert [e.state for e in recorder.events] == [*JOURNEY[1:], S.IDLE]
    assert session.context.is_empty


ALLOWED = [(a, b) for a, targets in TRANSITIONS.items() for b in targets]
REFUSED = [(a, b) for a, b in itertools.product(S, S) if b not in TRANSITIONS[a]]


@pytest.mark.parametrize(("source", "target"), ALLOWED, ids=lambda s: s.value)
def test_every_allowed_move(source: SessionState, target: SessionState) -> None:
    session, _, recorder = make()
    reach(session, source)
    if target is S.CONSENT:
        session.set_patient(PATIENT)
    if target is S.VITALS:
        session.give_consent("patient-1", "consultation-1")
    session.advance(target)
    assert session.state is target
    assert recorder.events[-1].previous is source
    assert recorder.events[-1].state is target


@pytest.mark.parametrize(("source", "target"), REFUSED, ids=lambda s: s.value)
def test_every_refused_move(source: SessionState, target: SessionState) -> None:
    session, _, recorder = make()
    reach(session, source)
    before = len(recorder.events)
    with pytest.raises(IllegalTransition):
        session.advance(target)
    assert session.state is source
    assert len(recorder.events) == before  # nothing published for a refusal


def test_consent_needs_a_patient_and_vitals_need_consent() -> None:
    session, _, _ = make()
    reach(session, S.IDENTIFY)
    with pytest.raises(IllegalTransition, match="no patient"):
        session.advance(S.CONSENT)
    session.set_patient(PATIENT)
    session.advance(S.CONSENT)
    with pytest.raises(IllegalTransition, match="consent"):
        session.advance(S.VITALS)


def test_data_methods_are_refused_outside_their_state() -> None:
    session, _, _ = make()
    with pytest.raises(IllegalTransition):
        session.set_patient(PATIENT)
    with pytest.raises(IllegalTransition):
        session.give_consent("p", "c")
    with pytest.raises(IllegalTransition):
        session.add_reading(READING)
    with pytest.raises(IllegalTransition):
        session.set_language("en")
    with pytest.raises(IllegalTransition):
        session.end(EndReason.ABANDONED)


@pytest.mark.parametrize("state", in_order(PATIENT_STATES), ids=str)
def test_ending_wipes_every_patient_field(state: SessionState) -> None:
    session, _, recorder = make()
    reach(session, state)
    session.set_language("en")
    if state in (S.VITALS, S.WAITING_ROOM, S.CALL):
        session.add_reading(READING)
    readings = session.context.readings  # a reference someone might have kept
    session.end(EndReason.ABANDONED)
    assert session.context.is_empty
    assert session.context == PatientContext()
    assert readings == []
    expected = S.CLEANING if JOURNEY.index(state) >= JOURNEY.index(S.VITALS) else S.IDLE
    assert session.state is expected
    assert recorder.events[-1].end_reason is EndReason.ABANDONED
    has_consultation = JOURNEY.index(state) >= JOURNEY.index(S.VITALS)
    assert recorder.events[-1].ended_consultation_id == (
        "consultation-1" if has_consultation else None
    )


def test_state_events_carry_no_patient_data() -> None:
    session, _, recorder = make()
    reach(session, S.SURVEY)
    session.end(EndReason.COMPLETED)
    for event in recorder.events:
        text = repr(event)
        assert "Quelennec" not in text and "Yvonne" not in text and "1938" not in text


def test_patient_identity_never_prints_itself() -> None:
    assert "Quelennec" not in repr(PATIENT) and "Yvonne" not in str(PATIENT)
    assert "1938" not in f"{PATIENT}"


def test_going_back_to_welcome_forgets_the_patient() -> None:
    session, _, _ = make()
    reach(session, S.IDENTIFY)
    session.set_patient(PATIENT)
    session.advance(S.WELCOME)
    assert session.context.patient is None


# --- timeouts, on a fake clock ----------------------------------------------------------------


@pytest.mark.parametrize("state", in_order(INACTIVITY_STATES - {S.SURVEY}), ids=str)
def test_inactivity_asks_then_wipes(state: SessionState) -> None:
    session, clock, recorder = make()
    reach(session, state)
    clock.advance(89.9)
    session.poll()
    assert session.overlay is Overlay.NONE
    clock.advance(0.2)
    session.poll()
    assert session.overlay is Overlay.STILL_THERE
    assert session.still_there_seconds_left() == pytest.approx(30.0)
    clock.advance(29.9)
    session.poll()
    assert session.overlay is Overlay.STILL_THERE
    clock.advance(0.1)
    session.poll()
    assert session.context.is_empty
    assert session.overlay is Overlay.NONE
    assert recorder.events[-1].end_reason is EndReason.TIMEOUT
    cleaning = JOURNEY.index(state) >= JOURNEY.index(S.VITALS)
    assert session.state is (S.CLEANING if cleaning else S.IDLE)


def test_a_touch_answers_are_you_still_there() -> None:
    session, clock, _ = make()
    reach(session, S.CONSENT)
    clock.advance(95)
    session.poll()
    assert session.overlay is Overlay.STILL_THERE
    clock.advance(10)
    session.touch()
    assert session.overlay is Overlay.NONE
    assert session.still_there_seconds_left() is None
    assert session.context.patient is PATIENT
    clock.advance(89)  # the timer started again at the touch
    session.poll()
    assert session.overlay is Overlay.NONE


def test_an_unanswered_survey_ends_the_session_normally() -> None:
    session, clock, recorder = make()
    reach(session, S.SURVEY)
    clock.advance(91)
    session.poll()
    assert session.state is S.CLEANING
    assert recorder.events[-1].end_reason is EndReason.COMPLETED


@pytest.mark.parametrize("state", [S.IDLE, S.WAITING_ROOM, S.CALL, S.CLEANING], ids=str)
def test_no_timeout_where_the_patient_rightly_waits(state: SessionState) -> None:
    session, clock, _ = make()
    reach(session, state)
    clock.advance(3600)
    session.poll()
    assert (session.state, session.overlay) == (state, Overlay.NONE)


def test_a_reading_counts_as_the_patient_being_there() -> None:
    session, clock, _ = make()
    reach(session, S.VITALS)
    clock.advance(80)
    session.add_reading(READING)
    clock.advance(80)
    session.poll()
    assert session.overlay is Overlay.NONE


# --- distress and assistant overlays --------------------------------------------------------------


@pytest.mark.parametrize("state", JOURNEY, ids=str)
def test_distress_overlay_from_any_state(state: SessionState) -> None:
    session, clock, _ = make()
    reach(session, state)
    session.raise_distress("alert-1")
    assert (session.state, session.overlay) == (state, Overlay.DISTRESS)
    clock.advance(10_000)  # never a timeout under a distress alert: the patient may be unwell
    session.poll()
    assert (session.state, session.overlay) == (state, Overlay.DISTRESS)
    session.clear_distress()
    assert (session.state, session.overlay) == (state, Overlay.NONE)


def test_distress_preempts_are_you_still_there_and_the_assistant() -> None:
    session, clock, _ = make()
    reach(session, S.WELCOME)
    clock.advance(100)
    session.poll()
    assert session.overlay is Overlay.STILL_THERE
    session.raise_distress("a")
    assert session.overlay is Overlay.DISTRESS
    assert session.still_there_seconds_left() is None
    session.clear_distress("a")
    session, _, _ = make()
    session.enter_assistant()
    session.raise_distress("b")
    assert session.overlay is Overlay.DISTRESS


def test_each_alert_must_be_cleared() -> None:
    session, _, _ = make()
    session.raise_distress("a")
    session.raise_distress("b")
    session.clear_distress("a")
    assert session.overlay is Overlay.DISTRESS
    session.clear_distress("b")
    assert session.overlay is Overlay.NONE


def test_journey_goes_on_under_a_distress_alert_but_not_under_the_assistant() -> None:
    session, _, _ = make()
    reach(session, S.CALL)
    session.raise_distress("a")
    session.advance(S.CLOSING)  # the doctor may end the call while help comes
    assert (session.state, session.overlay) == (S.CLOSING, Overlay.DISTRESS)
    session, _, _ = make()
    session.enter_assistant()
    with pytest.raises(IllegalTransition, match="assistant"):
        session.advance(S.WELCOME)


@pytest.mark.parametrize("state", [S.IDLE, S.CLEANING], ids=str)
def test_assistant_from_idle_or_cleaning(state: SessionState) -> None:
    session, _, _ = make()
    reach(session, state)
    session.enter_assistant()
    assert session.overlay is Overlay.ASSISTANT
    session.leave_assistant()
    assert (session.state, session.overlay) == (state, Overlay.NONE)


@pytest.mark.parametrize("state", in_order(PATIENT_STATES), ids=str)
def test_assistant_refused_during_a_patient_session(state: SessionState) -> None:
    session, _, _ = make()
    reach(session, state)
    with pytest.raises(IllegalTransition):
        session.enter_assistant()


def test_assistant_from_an_alert_returns_to_the_alert_until_it_is_cleared() -> None:
    session, _, _ = make()
    reach(session, S.CALL)
    session.raise_distress("a")
    session.enter_assistant()
    assert session.overlay is Overlay.ASSISTANT
    session.leave_assistant()
    assert session.overlay is Overlay.DISTRESS
    session.enter_assistant()
    session.clear_distress("a")  # acknowledged from the assistant mode
    session.leave_assistant()
    assert (session.state, session.overlay) == (S.CALL, Overlay.NONE)


def test_assistant_leaves_by_itself_after_inactivity() -> None:
    session, clock, _ = make()
    session.enter_assistant()
    clock.advance(119)
    session.poll()
    assert session.overlay is Overlay.ASSISTANT
    session.touch()
    clock.advance(119)
    session.poll()
    assert session.overlay is Overlay.ASSISTANT
    clock.advance(2)
    session.poll()
    assert session.overlay is Overlay.NONE


def test_leaving_an_assistant_that_is_not_open_is_refused() -> None:
    session, _, _ = make()
    with pytest.raises(IllegalTransition):
        session.leave_assistant()
