"""ICE for the call: the configuration from the hub's `CallAccepted`, and loopback-only mode.

Two traps of aiortc/aioice on these machines (STACK.md):
- aiortc asks a public STUN server when `RTCConfiguration.iceServers` is None, so
  `rtc_configuration` always gives a list: the hub's servers, or an empty one on loopback.
- aioice gathers a host candidate on every interface (IPv4 and IPv6) except 127.0.0.1, through its
  module function `aioice.ice.get_host_addresses`. For the demo and the tests, which never send a
  packet off the machine, `loopback_candidates()` narrows the candidates gathered inside it to
  127.0.0.1 only (no other interface, no IPv6; aioice never announces mDNS names), and
  `only_loopback_sdp` / `is_loopback_candidate` drop the peer's other candidates, mDNS ones
  included (resolving those would send multicast). `CallSettings.loopback_only` turns this on; a
  real cabin leaves it off.

This is the one place that reaches into aioice. The narrowing is scoped by a context variable,
not by swapping the function back and forth: aioice's function is wrapped once, and the wrapper
narrows only for the code running inside `loopback_candidates()` (and the tasks it starts), so a
cabin and a test's doctor gathering at the same time in one process do not step on each other.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from typing import Final

import aioice.ice
from aiortc import RTCConfiguration, RTCIceServer
from aiortc.rtcconfiguration import RTCIceTransportPolicy

import wire

LOOPBACK_ADDRESS: Final = "127.0.0.1"

_loopback_only: Final = contextvars.ContextVar("cabin_call_loopback_only", default=False)
_WRAPPED: Final = "_cabin_loopback_wrapper"

HostAddresses = Callable[[bool, bool], list[str]]


def rtc_configuration(accepted: wire.CallAccepted) -> RTCConfiguration:
    """The peer connection's configuration from the hub's ICE servers and transport policy.

    Always an explicit list of servers (empty on loopback): never aiortc's public STUN default.
    """
    servers = [
        RTCIceServer(urls=list(server.urls), username=server.username, credential=server.credential)
        for server in accepted.ice_servers
    ]
    policy = (
        RTCIceTransportPolicy.RELAY
        if accepted.ice_transport_policy is wire.IceTransportPolicy.RELAY
        else RTCIceTransportPolicy.ALL
    )
    return RTCConfiguration(iceServers=servers, iceTransportPolicy=policy)


@contextlib.contextmanager
def loopback_candidates(enabled: bool = True) -> Iterator[None]:
    """Inside, ICE gathering yields host candidates on 127.0.0.1 only (if `enabled`).

    Wrap the call that gathers: `setLocalDescription` in aiortc. For the demo and tests only.
    """
    if not enabled:
        yield
        return
    _install_wrapper()
    token = _loopback_only.set(True)
    try:
        yield
    finally:
        _loopback_only.reset(token)


def is_loopback_candidate(candidate: str) -> bool:
    """Whether an SDP candidate (`candidate:...`, with or without `a=`) is on 127.0.0.1."""
    fields = candidate.split()
    return len(fields) >= 6 and fields[4] == LOOPBACK_ADDRESS


def only_loopback_sdp(sdp: str) -> str:
    """`sdp` without the candidate lines that are not on 127.0.0.1."""
    lines = sdp.splitlines(keepends=True)
    return "".join(
        line
        for line in lines
        if not line.startswith("a=candidate:") or is_loopback_candidate(line.strip())
    )


def _install_wrapper() -> None:
    current = aioice.ice.get_host_addresses
    if getattr(current, _WRAPPED, False):
        return
    original: HostAddresses = current

    def host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        if _loopback_only.get():
            return [LOOPBACK_ADDRESS] if use_ipv4 else []
        return original(use_ipv4, use_ipv6)

    setattr(host_addresses, _WRAPPED, True)
    aioice.ice.get_host_addresses = host_addresses
