"""UDP echo probe: `python -m server.netlab.probe HOST PORT COUNT` prints JSON.

Sends COUNT numbered datagrams 20 ms apart, waits a second for stragglers, and
reports how many came back and the round-trip times: what a test needs to
check a link's loss, delay and cuts without a WebRTC stack in the way.
"""

from __future__ import annotations

import json
import socket
import sys
import time


def probe(host: str, port: int, count: int, spacing: float = 0.02) -> dict[str, object]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.005)
    sent: dict[int, float] = {}
    rtts: dict[int, float] = {}

    def drain(until: float) -> None:
        while time.monotonic() < until:
            try:
                data, _ = s.recvfrom(64)
            except TimeoutError:
                continue
            seq = int(data)
            rtts.setdefault(seq, time.monotonic() - sent[seq])

    for seq in range(count):
        sent[seq] = time.monotonic()
        s.sendto(str(seq).encode(), (host, port))
        drain(sent[seq] + spacing)
    drain(time.monotonic() + 1.0)
    ordered = sorted(rtts.values())
    return {
        "sent": count,
        "received": sorted(rtts),
        "median_rtt": ordered[len(ordered) // 2] if ordered else None,
    }


if __name__ == "__main__":
    host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    sys.stdout.write(json.dumps(probe(host, port, count)) + "\n")
