"""TURN credentials sent again to both ends of a live call about half their lifetime after the
last ones, so that a call longer than `credential_ttl_s` can still make a new peer connection;
each replica renews the sockets it holds (the cabin's `renew_ice` and the console's `renewIce`
take them without ending the call)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import wire
from tests.hub.hub_rig import (
    TIMEOUT_S,
    FakeClock,
    Peer,
    Rig,
    new_id,
    run,
    running_hub,
    until,
)

TTL_S = 600
TURN: dict[str, Any] = {
    "urls": ["turn:127.0.0.1:3478?transport=udp", "stun:127.0.0.1:3478"],
    "secret": "s3cret",
    "credential_ttl_s": TTL_S,
}
QUIET = (wire.WaitingRoom, wire.Ack, wire.PatientHistory, wire.AlertSummary)


async def _call(rig: Rig) -> tuple[Peer, Peer, wire.CallAccepted, wire.CallAccepted]:
    cabin = await rig.cabin()
    await rig.join(cabin, "c-1")
    console = await (await rig.login("dr.a")).console()
    await console.send(wire.TakeConsultation(msg_id=new_id(), consultation_id="c-1"))
    to_console = await console.expect(wire.CallAccepted)
    to_cabin = await cabin.expect(wire.CallAccepted)
    return cabin, console, to_cabin, to_console


def _expiry(accepted: wire.CallAccepted, who: str) -> int:
    turn = accepted.ice_servers[-1]
    assert turn.username is not None
    expiry, name = turn.username.split(":")
    assert name == who
    return int(expiry)


def _at(clock: FakeClock, after_s: int) -> int:
    return int(clock.now().timestamp()) + after_s


def test_both_ends_get_fresh_credentials_at_half_their_lifetime(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        async with running_hub(tmp_path, clock=clock, turn=TURN) as rig:
            renewal = rig.switchboard.ice_renewal
            cabin, console, first_cabin, first_console = await _call(rig)
            assert _expiry(first_cabin, "cabin-1") == _at(clock, TTL_S)
            assert renewal.renew_due() == 0  # just given
            clock.advance(TTL_S / 2 - 1)
            assert renewal.renew_due() == 0
            await cabin.nothing_more(ignore=QUIET)
            for _ in range(2):  # and again half a lifetime after the renewal
                clock.advance(TTL_S / 2)
                assert renewal.renew_due() == 2
                to_cabin = await cabin.expect(wire.CallAccepted)
                to_console = await console.expect(wire.CallAccepted)
                assert _expiry(to_cabin, "cabin-1") == _at(clock, TTL_S)
                assert _expiry(to_console, "dr.a") == _at(clock, TTL_S)
                # the same call, as each end had it: the cabin never gets the patient
                assert to_cabin.consultation_id == to_console.consultation_id == "c-1"
                assert to_cabin.patient is None and to_console.patient == first_console.patient
                assert to_cabin.msg_id != first_cabin.msg_id
                assert renewal.renew_due() == 0

    run(scenario())


def test_a_console_back_later_is_renewed_from_its_return(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        async with running_hub(tmp_path, clock=clock, turn=TURN) as rig:
            renewal = rig.switchboard.ice_renewal
            cabin, console, _, _ = await _call(rig)
            renewal.renew_due()
            clock.advance(TTL_S / 4)
            await console.close()
            await until(lambda: not rig.switchboard.has_console("dr.a"), what="console gone")
            back = await (await rig.login("dr.a")).console()
            resent = await back.expect(wire.CallAccepted)  # fresh on its return
            assert _expiry(resent, "dr.a") == _at(clock, TTL_S)
            renewal.renew_due()
            clock.advance(TTL_S / 4)
            assert renewal.renew_due() == 1  # the cabin only
            assert isinstance(await cabin.expect(wire.CallAccepted), wire.CallAccepted)
            clock.advance(TTL_S / 4)
            assert renewal.renew_due() == 1  # now the console
            assert _expiry(await back.expect(wire.CallAccepted), "dr.a") == _at(clock, TTL_S)

    run(scenario())


def test_nothing_is_renewed_after_the_call_nor_without_a_turn_server(tmp_path: Path) -> None:
    (tmp_path / "turn").mkdir()
    (tmp_path / "stun").mkdir()

    async def scenario() -> None:
        clock = FakeClock()
        async with running_hub(tmp_path / "turn", clock=clock, turn=TURN) as rig:
            cabin, console, _, _ = await _call(rig)
            rig.switchboard.ice_renewal.renew_due()
            await console.send(
                wire.CallEnd(
                    msg_id=new_id(), consultation_id="c-1", reason=wire.CallEndReason.COMPLETED
                )
            )
            await cabin.expect(wire.CallEnd)
            clock.advance(TTL_S)
            assert rig.switchboard.ice_renewal.renew_due() == 0
        async with running_hub(tmp_path / "stun", clock=clock) as rig:
            kept = await _call(rig)  # noqa: F841 (its sockets stay open)
            rig.switchboard.ice_renewal.renew_due()
            clock.advance(TTL_S)
            assert rig.switchboard.ice_renewal.renew_due() == 0

    run(scenario())


def test_the_hub_renews_by_itself(tmp_path: Path) -> None:
    """The switchboard's own timer (every tenth of the lifetime: 6 s for the shortest, 60 s)."""

    async def scenario() -> None:
        clock = FakeClock()
        async with running_hub(tmp_path, clock=clock, turn={**TURN, "credential_ttl_s": 60}) as rig:
            cabin, console, _, _ = await _call(rig)  # both kept open
            renewal = rig.switchboard.ice_renewal
            await until(lambda: renewal.watched == 2, what="the call seen by the timer")
            clock.advance(30)
            renewed = await cabin.expect(wire.CallAccepted, within_s=TIMEOUT_S)
            assert _expiry(renewed, "cabin-1") == _at(clock, 60)
            assert _expiry(await console.expect(wire.CallAccepted), "dr.a") == _at(clock, 60)

    run(scenario())
