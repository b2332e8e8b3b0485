"""States of a consultation session, and which moves between them are allowed.

The journey (DESIGN.md): idle -> welcome -> identify -> consent -> vitals -> waiting room ->
call -> closing -> survey -> cleaning -> idle. Over any state an *overlay* may stand: the
"are you still there?" prompt, the distress overlay, or the assistant mode. The table below is
the whole of the allowed journey moves; anything else is refused.
"""

from __future__ import annotations

import enum


class SessionState(enum.Enum):
    IDLE = "idle"
    WELCOME = "welcome"
    IDENTIFY = "identify"
    CONSENT = "consent"
    VITALS = "vitals"
    WAITING_ROOM = "waiting_room"
    CALL = "call"
    CLOSING = "closing"
    SURVEY = "survey"
    CLEANING = "cleaning"


class Overlay(enum.Enum):
    NONE = "none"
    STILL_THERE = "still_there"
    DISTRESS = "distress"
    ASSISTANT = "assistant"


class EndReason(enum.Enum):
    """Why a session ended; every end wipes the patient's data from memory."""

    COMPLETED = "completed"  # the survey was answered or left: the normal end
    ABANDONED = "abandoned"  # the patient chose to stop
    CONSENT_REFUSED = "consent_refused"
    TIMEOUT = "timeout"  # nobody answered "are you still there?"
    ABSENCE = "absence"  # distress detection saw the patient leave
    RESTART = "restart"  # the assistant restarted the cabin


S = SessionState

# Journey moves. Ending a session early is not listed: ``Session.end`` allows it from every
# patient state (see PATIENT_STATES) and always wipes.
TRANSITIONS: dict[SessionState, frozenset[SessionState]] = {
    S.IDLE: frozenset({S.WELCOME}),
    S.WELCOME: frozenset({S.IDENTIFY}),
    S.IDENTIFY: frozenset({S.CONSENT, S.WELCOME}),  # identified; back
    S.CONSENT: frozenset({S.VITALS, S.IDENTIFY}),  # consent given; back
    S.VITALS: frozenset({S.WAITING_ROOM}),
    # a doctor accepted; or none can be reached (the hub is away) and the patient leaves with
    # their measurements printed
    S.WAITING_ROOM: frozenset({S.CALL, S.CLOSING}),
    S.CALL: frozenset({S.CLOSING, S.WAITING_ROOM}),  # call ended; call lost, back in the queue
    S.CLOSING: frozenset({S.SURVEY}),
    S.SURVEY: frozenset({S.CLEANING}),
    S.CLEANING: frozenset({S.IDLE}),  # cleaning done
}

# States in which a patient's session is open (it can be ended, and its data wiped).
PATIENT_STATES: frozenset[SessionState] = frozenset(
    {S.WELCOME, S.IDENTIFY, S.CONSENT, S.VITALS, S.WAITING_ROOM, S.CALL, S.CLOSING, S.SURVEY}
)

# States where the patient is expected to touch the screen: silence there starts the "are you
# still there?" prompt. Not in the waiting room nor in the call, where the patient rightly waits
# or talks without touching anything.
INACTIVITY_STATES: frozenset[SessionState] = frozenset(
    {S.WELCOME, S.IDENTIFY, S.CONSENT, S.VITALS, S.CLOSING, S.SURVEY}
)

# From these states on, the patient has sat in the cabin and touched the instruments: the end of
# the session goes through cleaning before the next patient.
NEEDS_CLEANING_FROM: frozenset[SessionState] = frozenset(
    {S.VITALS, S.WAITING_ROOM, S.CALL, S.CLOSING, S.SURVEY}
)
