"""A school behind a router, on an impaired link, built from namespaces (needs root).

Topology (``i`` is a per-lab index, names carry a random id so parallel labs
never collide)::

    host (server)            router netns                  classroom netns
    vlg<id>h 10.213.i.1/30 ── vlg<id>u 10.213.i.2/30
                              NAT (nft masquerade)
                              vlg<id>t 192.168.i.1 ══TUN══ vlg<id>t 192.168.i.2
                              tbf (downlink rate)  forwarder  tbf (uplink rate)

Everything is undone by ``close()`` (also when building fails half-way):
deleting the namespaces removes their devices, nft tables and qdiscs, which
takes the host end of the veth pair with it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger("tongbu.netlab")

_LOCK = Path("/tmp/tongbu-netlab.lock")
_OWNERS = Path("/tmp/tongbu-netlab")  # <lab id>.pid: the process that built it
_SUBNET = "10.213"


class NetlabUnavailable(RuntimeError):
    """Not root, or a tool (ip, tc, nft, /dev/net/tun) is missing."""


def netlab_available() -> tuple[bool, str]:
    """Whether namespaces can be built here, and what is missing if not."""
    if os.geteuid() != 0:
        return False, "root (network namespaces)"
    for tool in ("ip", "tc", "nft"):
        if shutil.which(tool) is None:
            return False, f"the {tool} command"
    if not Path("/dev/net/tun").exists():
        return False, "/dev/net/tun"
    return True, ""


@dataclass(frozen=True)
class LinkSpec:
    """How bad the classroom's link is (both directions alike).

    ``seed`` set: loss is drawn by the forwarder from seeded RNGs (reproducible).
    ``seed=None``: loss is an nftables ``numgen random`` rule on the router
    (the kernel's RNG, not reproducible).
    """

    rate_kbit: int | None = None
    loss: float = 0.0
    delay_ms: float = 0.0  # one way
    jitter_ms: float = 0.0
    seed: int | None = 1
    block_udp: bool = False  # the router drops all UDP (only TCP gets out: TURN over TCP)

    def describe(self) -> str:
        parts = []
        if self.rate_kbit:
            parts.append(f"{self.rate_kbit} kbit/s")
        if self.loss:
            parts.append(f"{self.loss:.0%} loss")
        if self.delay_ms:
            parts.append(f"{self.delay_ms:g} ms one-way")
        if self.jitter_ms:
            parts.append(f"±{self.jitter_ms:g} ms")
        if self.block_udp:
            parts.append("UDP blocked")
        return ", ".join(parts) or "clean"


def _run(argv: Sequence[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(argv), capture_output=True, text=True, timeout=30)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {result.stderr.strip()}")
    return result


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale_labs() -> list[str]:
    """Delete labs whose builder died without cleaning up (SIGKILL, a timeout's SIGTERM).

    A lab is stale when its owner file is missing or names a dead process, and no process
    runs in its namespaces. Call with ``_LOCK`` held. Returns the lab ids removed.
    """
    names = _run(["ip", "netns", "list"], check=False).stdout.split()
    labs = {n[3:-1] for n in names if n.startswith("vlg") and len(n) == 10 and n[-1] in "rc"}
    removed = []
    for lab in sorted(labs):
        owner = _OWNERS / f"{lab}.pid"
        try:
            alive: bool | None = _pid_alive(int(owner.read_text()))
        except (OSError, ValueError):
            alive = None  # no owner file: only an idle lab counts as stale
        if alive:
            continue
        spaces = [f"vlg{lab}r", f"vlg{lab}c"]
        pids = [
            int(pid)
            for ns in spaces
            for pid in _run(["ip", "netns", "pids", ns], check=False).stdout.split()
        ]
        if pids and alive is None:
            continue
        for pid in pids:  # orphans of the dead builder (forwarder, classroom processes)
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        for ns in spaces:
            _run(["ip", "netns", "del", ns], check=False)
        if _run(["ip", "link", "show", f"vlg{lab}h"], check=False).returncode == 0:
            _run(["ip", "link", "del", f"vlg{lab}h"], check=False)
        owner.unlink(missing_ok=True)
        removed.append(lab)
        logger.warning("netlab: removed stale lab %s (its builder died)", lab)
    return removed


def _used_indexes() -> set[int]:
    out = _run(["ip", "-4", "-o", "addr", "show"]).stdout
    used = set()
    for line in out.splitlines():
        if f" {_SUBNET}." in line:
            with contextlib.suppress(ValueError, IndexError):
                used.add(int(line.split(f" {_SUBNET}.", 1)[1].split(".", 1)[0]))
    return used


class School:
    """One classroom namespace behind one router namespace; a context manager.

    ``host_addr`` is where the server must listen (the host end of the veth);
    ``spawn()`` runs a command inside the classroom; ``cut()``/``restore()``
    take the link down and up (the forwarder drops everything meanwhile).
    """

    def __init__(self, spec: LinkSpec | None = None, *, label: str = "school") -> None:
        ok, what = netlab_available()
        if not ok:
            raise NetlabUnavailable(f"netlab needs {what}")
        self.spec = spec or LinkSpec()
        self.label = label
        self.id = secrets.token_hex(3)
        self.router_ns = f"vlg{self.id}r"
        self.school_ns = f"vlg{self.id}c"
        self.host_dev = f"vlg{self.id}h"
        self.up_dev = f"vlg{self.id}u"
        self.tun_dev = f"vlg{self.id}t"
        self.index = 0
        self.forwarder: subprocess.Popen[str] | None = None
        self.forwarder_counters: dict[str, Any] | None = None
        self._children: list[subprocess.Popen[Any]] = []
        self._built: list[str] = []
        self.cut_at: float | None = None
        self.restored_at: float | None = None

    # -- addresses ------------------------------------------------------------
    @property
    def host_addr(self) -> str:
        return f"{_SUBNET}.{self.index}.1"

    @property
    def router_addr(self) -> str:
        return f"{_SUBNET}.{self.index}.2"

    @property
    def school_addr(self) -> str:
        return f"192.168.{self.index}.2"

    # -- lifecycle ------------------------------------------------------------
    def __enter__(self) -> School:
        try:
            self.build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def build(self) -> None:
        _LOCK.touch(exist_ok=True)
        with _LOCK.open("r+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            sweep_stale_labs()
            _OWNERS.mkdir(exist_ok=True)
            (_OWNERS / f"{self.id}.pid").write_text(str(os.getpid()))
            self._built.append("owner")
            used = _used_indexes()
            self.index = next(i for i in range(1, 255) if i not in used)
            self._ns(self.router_ns)
            self._ns(self.school_ns)
            _run(["ip", "link", "add", self.host_dev, "type", "veth", "peer", "name", self.up_dev])
            self._built.append("veth")
            _run(["ip", "link", "set", self.up_dev, "netns", self.router_ns])
            _run(["ip", "addr", "add", f"{self.host_addr}/30", "dev", self.host_dev])
            _run(["ip", "link", "set", self.host_dev, "up"])
        r, c = self._in(self.router_ns), self._in(self.school_ns)
        _run([*r, "ip", "link", "set", "lo", "up"])
        _run([*r, "ip", "addr", "add", f"{self.router_addr}/30", "dev", self.up_dev])
        _run([*r, "ip", "link", "set", self.up_dev, "up"])
        _run([*r, "ip", "route", "add", "default", "via", self.host_addr])
        _run([*r, "sysctl", "-qw", "net.ipv4.ip_forward=1"])
        _run([*c, "ip", "link", "set", "lo", "up"])
        for ns in (r, c):
            _run([*ns, "ip", "tuntap", "add", "dev", self.tun_dev, "mode", "tun"])
        self._start_forwarder()
        gw = f"192.168.{self.index}.1"
        _run([*r, "ip", "addr", "add", gw, "peer", self.school_addr, "dev", self.tun_dev])
        _run([*c, "ip", "addr", "add", self.school_addr, "peer", gw, "dev", self.tun_dev])
        for ns in (r, c):
            _run([*ns, "ip", "link", "set", self.tun_dev, "up"])
        _run([*c, "ip", "route", "add", "default", "via", gw])
        if self.spec.rate_kbit:
            for ns in (r, c):
                _run(
                    [*ns, "tc", "qdisc", "add", "dev", self.tun_dev, "root", "tbf", "rate",
                     f"{self.spec.rate_kbit}kbit", "burst", "32kbit", "latency", "400ms"]
                )  # fmt: skip
        self._nft()
        logger.info("netlab %s up: %s (%s)", self.label, self.school_ns, self.spec.describe())

    def _ns(self, name: str) -> None:
        _run(["ip", "netns", "add", name])
        self._built.append(name)

    @staticmethod
    def _in(ns: str) -> list[str]:
        return ["ip", "netns", "exec", ns]

    def _nft(self) -> None:
        forward = []
        if self.spec.loss and self.spec.seed is None:
            forward.append(f"numgen random mod 1000 < {round(self.spec.loss * 1000)} drop")
        if self.spec.block_udp:
            forward.append(f'oifname "{self.up_dev}" meta l4proto udp drop')
            forward.append(f'iifname "{self.up_dev}" meta l4proto udp drop')
        rules = "\n".join(f"    {rule}" for rule in forward)
        ruleset = f"""table ip tongbu_lab {{
  chain forward {{
    type filter hook forward priority 0; policy accept;
{rules}
  }}
  chain postrouting {{
    type nat hook postrouting priority 100; policy accept;
    oifname "{self.up_dev}" masquerade
  }}
}}
"""
        result = subprocess.run(
            [*self._in(self.router_ns), "nft", "-f", "-"],
            input=ruleset,
            capture_output=True,
            text=True,
            timeout=30,
        )
        if result.returncode != 0:
            raise RuntimeError(f"nft failed: {result.stderr.strip()}")

    def _start_forwarder(self) -> None:
        spec = self.spec
        seeded_loss = spec.loss if spec.seed is not None else 0.0
        argv = [
            sys.executable, "-m", "server.netlab.forwarder",
            "--router-ns", self.router_ns, "--router-dev", self.tun_dev,
            "--school-ns", self.school_ns, "--school-dev", self.tun_dev,
            "--delay-ms", str(spec.delay_ms), "--jitter-ms", str(spec.jitter_ms),
            "--loss", str(seeded_loss), "--seed", str(spec.seed or 0),
        ]  # fmt: skip
        self.forwarder = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        assert self.forwarder.stdout is not None
        line = self.forwarder.stdout.readline().strip()
        if line != "ready":
            err = self.forwarder.stderr.read() if self.forwarder.stderr else ""
            raise RuntimeError(f"forwarder did not start: {line} {err[-2000:]}")

    # -- impairments during a run --------------------------------------------
    def cut(self) -> None:
        """Take the link down: every packet either way is dropped until ``restore``."""
        assert self.forwarder is not None
        self.forwarder.send_signal(signal.SIGUSR1)
        self.cut_at = time.monotonic()

    def restore(self) -> None:
        assert self.forwarder is not None
        self.forwarder.send_signal(signal.SIGUSR2)
        self.restored_at = time.monotonic()

    # -- processes inside the classroom --------------------------------------
    def command(self, argv: Sequence[str]) -> list[str]:
        return [*self._in(self.school_ns), *argv]

    def run(self, argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("text", True)
        kwargs.setdefault("timeout", 60)
        return subprocess.run(self.command(argv), **kwargs)

    def spawn(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        """Start ``argv`` inside the classroom namespace; killed by ``close()``."""
        kwargs.setdefault("cwd", Path(__file__).resolve().parents[2])
        proc: subprocess.Popen[Any] = subprocess.Popen(self.command(argv), **kwargs)
        self._children.append(proc)
        return proc

    def close(self) -> None:
        """Undo everything; idempotent, never raises."""
        for proc in self._children:
            if proc.poll() is None:
                proc.kill()
            with contextlib.suppress(Exception):
                proc.wait(5)
        self._children.clear()
        if self.forwarder is not None:
            fwd, self.forwarder = self.forwarder, None
            if fwd.poll() is None:
                fwd.terminate()
            try:
                out, _ = fwd.communicate(timeout=5)
                lines = [ln for ln in out.splitlines() if ln.startswith("{")]
                if lines:
                    self.forwarder_counters = json.loads(lines[-1])
            except Exception:
                fwd.kill()
                with contextlib.suppress(Exception):
                    fwd.wait(5)
        for name in (self.school_ns, self.router_ns):
            if name in self._built:
                _run(["ip", "netns", "del", name], check=False)
        if "veth" in self._built:
            # normally gone with the router namespace; this covers a failure before the move
            if _run(["ip", "link", "show", self.host_dev], check=False).returncode == 0:
                _run(["ip", "link", "del", self.host_dev], check=False)
        if "owner" in self._built:
            (_OWNERS / f"{self.id}.pid").unlink(missing_ok=True)
        self._built.clear()


@contextlib.contextmanager
def schools(specs: Sequence[tuple[str, LinkSpec]]) -> Iterator[list[School]]:
    """Several labs at once, all torn down on exit even if one fails to build."""
    built: list[School] = []
    try:
        for label, spec in specs:
            school = School(spec, label=label)
            built.append(school)
            school.build()
        yield built
    finally:
        for school in built:
            school.close()
