"""The console's socket drops and comes back during a call: the hub sends the call's
acceptance again with TURN credentials valid from now, and the next peer connection (the
cabin's next offer) uses them. Before, the console kept the first ones, which coturn refuses
once their hour has passed. Headless Chromium against the real hub, whose TURN server is
configured (and unreachable: only the credentials handed out are looked at)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, WebSocketRoute, expect

import wire
from hub.app import start_hub
from hub.config import load_hub_config
from tests.console.harness import PATIENCE_S, Hub, sign_in, wait_js
from tests.console.hub_thread import HubThread
from tests.console.scripted_cabin import ScriptedCabin
from tests.console.test_console import entry_of, queue_join
from tests.hub.hub_key import TEST_KEY

TURN = {"urls": ["turn:127.0.0.1:9?transport=udp"], "secret": "coturn-shared-secret"}

# Before the console's scripts: every RTCPeerConnection's configuration, in order.
RECORD_CONFIGURATIONS = """
(() => {
  const Native = window.RTCPeerConnection;
  const made = [];
  window.__configurations = made;
  window.RTCPeerConnection = class extends Native {
    constructor(configuration, ...rest) {
      super(configuration, ...rest);
      made.push(JSON.parse(JSON.stringify(configuration ?? {})));
    }
  };
})();
"""
# A real offer, as a cabin makes one (made in the page: a peer connection without servers).
MAKE_OFFER = """(async () => {
  const pc = new RTCPeerConnection();
  pc.createDataChannel('cabin');
  pc.addTransceiver('audio');
  await pc.setLocalDescription(await pc.createOffer());
  const sdp = pc.localDescription.sdp;
  pc.close();
  return sdp;
})()"""
TURN_USERNAMES = """(window.__configurations ?? [])
  .flatMap((c) => c.iceServers ?? []).filter((s) => s.username).map((s) => s.username)"""


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """A hub of this module's own: the shared one has no TURN server."""
    thread = HubThread()
    try:
        config = load_hub_config(
            None,
            data_dir=tmp_path_factory.mktemp("hub-data"),
            overrides={"host": "127.0.0.1", "port": 0, "argon2_cost": "test", "turn": TURN},
        )
        thread.hub = thread.run(start_hub(config, key=TEST_KEY))
        running = Hub(thread)
        running.create_doctors()
        yield running
    finally:
        thread.close()


def _turn_username(accepted: dict[str, Any]) -> str:
    return str(next(s["username"] for s in accepted["ice_servers"] if s.get("username")))


def test_the_call_s_next_peer_connection_uses_the_credentials_sent_after_a_reconnection(
    page: Page, hub: Hub, tmp_path: Path
) -> None:
    sockets: list[WebSocketRoute] = []
    accepted: list[dict[str, Any]] = []

    def route(socket: WebSocketRoute) -> None:
        """Between the hub and the page: keep the page's side (to cut it) and what the hub
        sends as the call's acceptance."""
        server = socket.connect_to_server()
        sockets.append(socket)

        def from_hub(message: str | bytes) -> None:
            if '"call_accepted"' in str(message):
                accepted.append(json.loads(message))
            socket.send(message)

        server.on_message(from_hub)

    cabin_id, token = hub.provision_cabin("Cabine de Riom")
    cabin = ScriptedCabin(hub.url, cabin_id, token)
    hub.run(cabin.connect())
    try:
        page.add_init_script(RECORD_CONFIGURATIONS)
        page.route_web_socket(re.compile(r".*/ws/console.*"), route)
        sign_in(page, hub)
        hub.run(cabin.queue(queue_join(cabin, "consult-ice")))
        entry_of(page, "consult-ice").locator("[data-testid=accept-button]").click()
        expect(page.locator("#call-view")).to_be_visible()
        hub.run(cabin.expect(wire.CallAccepted))
        offer = page.evaluate(MAKE_OFFER)

        def cabin_offers() -> None:
            message = wire.SdpOffer(
                msg_id=cabin.next_id("offer"), consultation_id="consult-ice", sdp=offer
            )
            hub.run(cabin.send(message))

        cabin_offers()
        wait_js(page, f"({TURN_USERNAMES}).length >= 1")
        [first] = accepted
        assert page.evaluate(TURN_USERNAMES) == [_turn_username(first)]

        # a second later (the credential's expiry is in whole seconds), the socket drops
        time.sleep(1.1)
        sockets[-1].close()
        deadline = time.monotonic() + PATIENCE_S
        while len(accepted) < 2:  # the console is back, and the hub sent the acceptance again
            assert time.monotonic() < deadline, "the console did not come back"
            page.wait_for_timeout(100)
        fresh = _turn_username(accepted[1])
        assert fresh != _turn_username(first)
        expect(page.locator("#call-view")).to_be_visible()  # the call goes on

        cabin_offers()  # the cabin reconnects its call: a new peer connection
        wait_js(page, f"({TURN_USERNAMES}).length >= 2")
        # (the hub may also have sent the offer again, if the socket dropped before the answer:
        # that one gets a new peer connection too)
        used = page.evaluate(TURN_USERNAMES)
        assert used[0] == _turn_username(first)
        assert used[1:] == [fresh] * (len(used) - 1)
    finally:
        hub.run(cabin.close())
