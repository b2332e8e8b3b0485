"""A hub replica that restarts closes the console's socket with 1012 ("reconnect now"): the
console says "reconnecting" (not "lost"), comes back at once, and shows the doctor no banner
unless that takes a while. The same with real replicas behind HAProxy:
tests/fleet/test_rolling_restart.py."""

from __future__ import annotations

import re

from playwright.sync_api import Page, WebSocketRoute, expect

from tests.console.harness import Hub, sign_in, wait_js

STATES = """(() => {
  window.__wsStates = [];
  const banner = document.getElementById('ws-banner');
  const seen = () => window.__wsStates.push(banner.dataset.state + (banner.hidden ? '' : '!'));
  const watched = { attributes: true, attributeFilter: ['data-state', 'hidden'] };
  new MutationObserver(seen).observe(banner, watched);
})()"""
"""Every change of the banner's state, with "!" when the doctor can see it."""


def test_a_restart_close_reconnects_at_once_and_says_reconnecting(page: Page, hub: Hub) -> None:
    sockets: list[WebSocketRoute] = []

    def route(socket: WebSocketRoute) -> None:
        socket.connect_to_server()
        sockets.append(socket)

    page.route_web_socket(re.compile(r".*/ws/console.*"), route)
    sign_in(page, hub)
    banner = page.locator("#ws-banner")
    expect(banner).to_have_attribute("data-state", "open")
    page.evaluate(STATES)
    sockets[-1].close(code=1012, reason="restarting")
    wait_js(page, "window.__wsStates.includes('reconnecting')")
    expect(banner).to_have_attribute("data-state", "open")
    assert len(sockets) == 2
    states = page.evaluate("window.__wsStates")
    assert "lost" not in "".join(states), states
    assert states[-1] == "open", states
