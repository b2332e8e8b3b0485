"""Who holds a cabin or a doctor's consoles is kept a moment by each replica's routing
(`hub.routing.HOLDERS_TTL_S`) instead of being asked of Redis for every message: it must follow
a socket that opens on another replica at once, from that replica's signal, never after the
moment has passed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import wire
from fleet.servers import RedisServer
from hub.cluster import HeldKind, LocalCluster
from hub.routing import Routing
from hub.signals import CabinAway, ConsoleHere, PeerReplaced
from tests.hub.hub_rig import new_id, run, until
from tests.hub.test_replicas import redis_server, two_replicas

__all__ = ["redis_server"]  # the module's Redis, from test_replicas


def _reading() -> wire.ReadingMessage:
    return wire.ReadingMessage(
        msg_id=new_id("r"),
        consultation_id="c-1",
        reading=wire.Vital(
            kind=wire.VitalKind.SPO2,
            measured_at=datetime.now(UTC),
            device_id="ox-1",
            spo2_percent=97,
        ),
    )


def test_a_console_that_moves_to_b_gets_the_next_reading_of_a_cabin_on_a(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async def scenario() -> None:
        async with two_replicas(tmp_path, redis_server) as (a, b):
            cabin = await a.cabin()
            console = await (await a.login("dr.a")).console()
            await a.join(cabin, "c-1")
            await console.send(wire.TakeConsultation(msg_id=new_id(), consultation_id="c-1"))
            await console.expect(wire.CallAccepted)
            first = _reading()
            await cabin.send(first)
            assert (await console.expect(wire.ReadingMessage)).msg_id == first.msg_id
            routing = a.switchboard.routing
            kept = routing._holders
            await until(lambda: (HeldKind.CONSOLE, "dr.a") in kept, what="A keeps dr.a's holders")
            assert kept[(HeldKind.CONSOLE, "dr.a")].replicas == {routing.replica_id}
            # the doctor reloads the console, which lands on B, within the moment A keeps it
            await console.close()
            moved = await (await b.login("dr.a")).console()
            b_id = b.switchboard.routing.replica_id
            await until(
                lambda: b_id in kept[(HeldKind.CONSOLE, "dr.a")].replicas,
                what="A hears that dr.a has a console on B",
            )
            second = _reading()
            await cabin.send(second)
            assert (await moved.expect(wire.ReadingMessage)).msg_id == second.msg_id

    run(scenario())


def test_the_signals_of_sockets_elsewhere_update_what_is_kept() -> None:
    async def scenario() -> None:
        cluster = LocalCluster("replica-a")
        routing = Routing(cluster)
        # a cabin's newer socket on X: X alone holds it, whatever was kept before
        routing.saw(PeerReplaced(cabin_id="cabin-9", replica="replica-y"))
        routing.saw(PeerReplaced(cabin_id="cabin-9", replica="replica-x"))
        assert await routing._holders_of(HeldKind.CABIN, "cabin-9") == {"replica-x"}
        routing.saw(CabinAway(cabin_id="cabin-9"))  # gone from there: ask the cluster
        assert await routing._holders_of(HeldKind.CABIN, "cabin-9") == set()
        # a console's first socket on X is added to what the cluster says, even if the
        # cluster has not written X's presence yet
        routing.saw(ConsoleHere(doctor="dr.a", replica="replica-x"))
        assert await routing._holders_of(HeldKind.CONSOLE, "dr.a") == {"replica-x"}
        routing.saw(ConsoleHere(doctor="dr.a", replica="replica-y"))
        assert await routing._holders_of(HeldKind.CONSOLE, "dr.a") == {
            "replica-x",
            "replica-y",
        }
        # the cluster reconnected (signals may have been lost): everything is asked again
        routing.forget_holders()
        assert await routing._holders_of(HeldKind.CONSOLE, "dr.a") == set()
        await asyncio.sleep(0)

    run(scenario())
