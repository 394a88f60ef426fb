"""Bind the SFU's ICE host candidates inside a configured UDP port range.

Why: a school or county data centre opens a fixed UDP range in its firewall
for media (`TONGBU_MEDIA__UDP_PORT_MIN` / `..._MAX`); aioice 0.13 always binds
ephemeral ports and has no option for a range. The seam (aioice 0.13,
`aioice.ice.Connection.get_component_candidates(component, addresses,
timeout)`) is the one place host sockets are bound; we replace it on each
connection instance of our own peer connections (never globally) with a
version that binds a socket in the range first and hands it to
`create_datagram_endpoint(sock=...)`. TURN relay candidates, if configured,
are still gathered by aioice (it is called with no host addresses). Server
reflexive (STUN) candidates are not gathered in range mode: a server with a
port range has a known address; set `announced_address` instead.

`tests/unit/media/test_passthrough_seams.py`-style check: tests/integration/
media/test_port_range.py fails if aioice moves the seam.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
from typing import Any

from aioice import Candidate
from aioice.ice import StunProtocol, candidate_foundation, candidate_priority

logger = logging.getLogger("tongbu.media.ports")

_PATCHED = "_tongbu_port_range"


class PortRangeExhausted(OSError):
    """Every port of the range is taken on this address."""


def bind_in_range(address: str, low: int, high: int) -> socket.socket:
    """A UDP socket bound to `address` on a free port in [low, high], tried in random order."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    ports = list(range(low, high + 1))
    random.shuffle(ports)
    for port in ports:
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.bind((address, port))
        except OSError:
            sock.close()
            continue
        sock.setblocking(False)
        return sock
    raise PortRangeExhausted(f"no free UDP port in {low}-{high} on {address}")


def restrict_ports(connection: Any, low: int, high: int) -> None:
    """Make one aioice `Connection` bind its host candidates in [low, high]."""
    if getattr(connection, _PATCHED, False):
        return
    original = connection.get_component_candidates

    async def get_component_candidates(
        component: int, addresses: list[str], timeout: int = 5  # noqa: ASYNC109 (aioice)
    ) -> list[Candidate]:
        loop = asyncio.get_running_loop()
        candidates: list[Candidate] = []
        for address in addresses:
            try:
                sock = bind_in_range(address, low, high)
                _transport, protocol = await loop.create_datagram_endpoint(
                    lambda: StunProtocol(connection), sock=sock
                )
            except OSError as exc:
                logger.error("ICE host candidate on %s not bound: %s", address, exc)
                continue
            host, port = protocol.transport.get_extra_info("sockname")[:2]
            protocol.local_candidate = Candidate(
                foundation=candidate_foundation("host", "udp", host),
                component=component,
                transport="udp",
                priority=candidate_priority(component, "host"),
                host=host,
                port=port,
                type="host",
            )
            candidates.append(protocol.local_candidate)
            connection._protocols.append(protocol)
        if connection.turn_server:
            candidates += await original(component, [], timeout)
        return candidates

    connection.get_component_candidates = get_component_candidates
    setattr(connection, _PATCHED, True)


def restrict_peer_connection(pc: Any, low: int, high: int) -> None:
    """Patch the ICE connections of every transceiver of `pc` created so far."""
    for transceiver in pc.getTransceivers():
        for side in (transceiver.sender, transceiver.receiver):
            dtls = getattr(side, "transport", None)
            ice = getattr(dtls, "transport", None)
            gatherer = getattr(ice, "iceGatherer", None)
            connection = getattr(gatherer, "_connection", None)
            if connection is not None:
                restrict_ports(connection, low, high)
