"""Calls in progress, in memory, by consultation: the routing table of the signaling, one
replica's cache of the taken consultations of the database (`hub.queue` re-reads it).

A call is known by its consultation, its cabin and its doctor, never by a connection, so a
console or a cabin that reconnects finds its call again. The only signaling kept is the cabin's
last `SdpOffer` not yet answered, for a console that was away; it goes when the answer comes,
and the whole call goes when it ends (the cluster keeps a copy for a while, with a TTL, for a
console that comes back through another replica). Nothing here is ever written to disk.
"""

from __future__ import annotations

from dataclasses import dataclass

import wire


@dataclass(slots=True)
class Call:
    consultation_id: str
    cabin_id: str
    doctor: str
    """The doctor's username."""
    cabin_accept: wire.CallAccepted
    """What the cabin got (the doctor with their photo, no patient)."""
    console_accept: wire.CallAccepted
    """What the doctor's consoles got (with the patient)."""
    pending_offer: wire.SdpOffer | None = None


class CallRegistry:
    def __init__(self) -> None:
        self._calls: dict[str, Call] = {}

    def __len__(self) -> int:
        return len(self._calls)

    def all(self) -> list[Call]:
        return list(self._calls.values())

    def start(self, call: Call) -> None:
        self._calls[call.consultation_id] = call

    def get(self, consultation_id: str) -> Call | None:
        return self._calls.get(consultation_id)

    def of_doctor(self, doctor: str) -> Call | None:
        return next((c for c in self._calls.values() if c.doctor == doctor), None)

    def of_cabin(self, cabin_id: str) -> list[Call]:
        return [c for c in self._calls.values() if c.cabin_id == cabin_id]

    def end(self, consultation_id: str) -> Call | None:
        """Forget the call and all its signaling."""
        call = self._calls.pop(consultation_id, None)
        if call is not None:
            call.pending_offer = None
        return call

    def signaling_held(self) -> int:
        """How many session descriptions are held in memory (for the tests and the metrics)."""
        return sum(1 for c in self._calls.values() if c.pending_offer is not None)
