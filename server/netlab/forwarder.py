"""A userspace link between two TUN devices in two network namespaces.

Why: this kernel has no netem, so one-way delay, jitter and seeded loss come
from here. The process opens the router-side TUN inside the router namespace
and the classroom-side TUN inside the classroom namespace (``setns`` between
the two opens; the file descriptors keep their namespace), then moves IP
packets between them on a schedule:

- each direction has its own ``random.Random`` seeded from ``--seed`` and the
  direction, so a run reproduces packet for packet whatever the interleaving;
- a packet is lost with probability ``--loss``, else delivered after
  ``delay ± jitter`` milliseconds, never before the previous packet of its
  direction (no reordering, as on a real serial link);
- ``SIGUSR1`` cuts the link (everything dropped), ``SIGUSR2`` restores it;
- ``SIGTERM`` ends it and prints the counters as one JSON line.

Rate is not done here: ``tbf`` on both TUN devices shapes before we read.
"""

from __future__ import annotations

import ctypes
import fcntl
import heapq
import json
import os
import random
import selectors
import signal
import struct
import sys
import time
from dataclasses import dataclass, field

import typer

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
CLONE_NEWNET = 0x40000000
MTU = 65535


def setns(name: str) -> None:
    """Move this (single-threaded) process into the named network namespace."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/var/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({name}): {os.strerror(err)}")
    finally:
        os.close(fd)


def open_tun(dev: str) -> int:
    """Attach to the persistent TUN device ``dev`` of the current namespace."""
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", dev.encode(), IFF_TUN | IFF_NO_PI))
    return fd


@dataclass
class Direction:
    """One way of the link: its own RNG, schedule and counters."""

    name: str
    src: int
    dst: int
    rng: random.Random
    delay: float
    jitter: float
    loss: float = 0.0
    queue: list[tuple[float, int, bytes]] = field(default_factory=list)
    last_due: float = 0.0
    seq: int = 0
    received: int = 0
    delivered: int = 0
    lost: int = 0
    cut: int = 0

    def take(self, packet: bytes, now: float, link_up: bool) -> None:
        self.received += 1
        # draw both numbers for every packet, so the sequence does not depend on cuts
        lose = self.rng.random() < self.loss
        offset = self.rng.uniform(-self.jitter, self.jitter)
        if not link_up:
            self.cut += 1
            return
        if lose:
            self.lost += 1
            return
        due = max(now + max(self.delay + offset, 0.0), self.last_due)
        self.last_due = due
        self.seq += 1
        heapq.heappush(self.queue, (due, self.seq, packet))

    def flush(self, now: float) -> None:
        while self.queue and self.queue[0][0] <= now:
            _, _, packet = heapq.heappop(self.queue)
            try:
                os.write(self.dst, packet)
                self.delivered += 1
            except OSError:  # queue full, or the device is not up yet (EIO)
                self.lost += 1

    def counters(self) -> dict[str, int]:
        return {
            "received": self.received,
            "delivered": self.delivered,
            "lost": self.lost,
            "cut": self.cut,
        }


def run(
    router_ns: str,
    router_dev: str,
    school_ns: str,
    school_dev: str,
    delay_ms: float,
    jitter_ms: float,
    loss: float,
    seed: int,
) -> dict[str, dict[str, int]]:
    setns(router_ns)
    router_fd = open_tun(router_dev)
    setns(school_ns)
    school_fd = open_tun(school_dev)
    delay, jitter = delay_ms / 1000, jitter_ms / 1000
    down = Direction("down", router_fd, school_fd, random.Random(f"{seed}:down"), delay, jitter)
    up = Direction("up", school_fd, router_fd, random.Random(f"{seed}:up"), delay, jitter)
    down.loss = up.loss = loss
    state = {"up": True, "stop": False}

    def on_signal(signum: int, _frame: object) -> None:
        if signum == signal.SIGUSR1:
            state["up"] = False
        elif signum == signal.SIGUSR2:
            state["up"] = True
        else:
            state["stop"] = True

    for sig in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    selector = selectors.DefaultSelector()
    selector.register(router_fd, selectors.EVENT_READ, down)
    selector.register(school_fd, selectors.EVENT_READ, up)
    print("ready", flush=True)
    while not state["stop"]:
        now = time.monotonic()
        due = [d.queue[0][0] for d in (down, up) if d.queue]
        timeout = max(min(due) - now, 0.0) if due else 0.5
        try:
            events = selector.select(timeout)
        except InterruptedError:  # pragma: no cover - PEP 475 retries, kept for clarity
            continue
        now = time.monotonic()
        for key, _ in events:
            direction: Direction = key.data
            for _ in range(64):  # drain a burst, but keep the schedule moving
                try:
                    packet = os.read(direction.src, MTU)
                except BlockingIOError:
                    break
                direction.take(packet, now, state["up"])
        for d in (down, up):
            d.flush(time.monotonic())
    return {"down": down.counters(), "up": up.counters()}


def main(
    router_ns: str = typer.Option(...),
    router_dev: str = typer.Option(...),
    school_ns: str = typer.Option(...),
    school_dev: str = typer.Option(...),
    delay_ms: float = typer.Option(0.0),
    jitter_ms: float = typer.Option(0.0),
    loss: float = typer.Option(0.0, min=0.0, max=1.0),
    seed: int = typer.Option(1),
) -> None:
    counters = run(router_ns, router_dev, school_ns, school_dev, delay_ms, jitter_ms, loss, seed)
    sys.stdout.write(json.dumps(counters) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    typer.run(main)
