"""TURN: short-lived credentials from the server, coturn with `use-auth-secret`, a
classroom whose UDP is blocked relaying over TCP, and an expired credential refused."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from aioice.turn import create_turn_endpoint

from clients.python.client import TongbuClient
from server.api.turn import ice_servers_for, turn_credential
from server.netlab import LinkSpec, School
from server.netlab.serve import serve
from server.settings import Settings
from server.tokens import RoomRole
from tests.conftest import require

from .media import arrivals, attend, publish_layers, video_consumer


def test_credential_is_expiry_colon_identity_signed_with_hmac_sha1() -> None:
    cred = turn_credential("s3cret", "school:7/a b", ttl=600, now=1_000_000)
    assert cred.username == "1000600:school_7_a_b"
    expected = hmac.new(b"s3cret", b"1000600:school_7_a_b", hashlib.sha1).digest()
    assert cred.credential == base64.b64encode(expected).decode()


def test_ice_servers_carry_a_turn_credential_only_when_configured(settings: Settings) -> None:
    assert ice_servers_for(settings, "t") == []
    settings.media.turn.urls = ["turn:turn.example.cn:3478?transport=tcp"]
    settings.media.turn.secret = "x" * 32
    settings.media.turn.ttl = 120
    (server,) = ice_servers_for(settings, "teacher")
    assert server.urls == ["turn:turn.example.cn:3478?transport=tcp"]
    expiry = int(server.username.split(":")[0])  # type: ignore[union-attr]
    assert 0 < expiry - time.time() <= 120


def _free_port(address: str) -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        return int(s.getsockname()[1])


@contextmanager
def coturn(address: str, secret: str, tmp: Path) -> Iterator[int]:
    """Debian's coturn on ``address`` (UDP+TCP), TURN REST API auth, no TLS; stopped after."""
    require(shutil.which("turnserver") is not None, "coturn (apt-get install coturn)")
    port = _free_port(address)
    log = tmp / "turn.log"
    argv = [
            "turnserver", "-n", "--listening-ip", address, "--listening-port", str(port),
            "--relay-ip", address, "--use-auth-secret", "--static-auth-secret", secret,
            "--realm", "tongbu.test", "--no-tls", "--no-dtls", "--no-cli", "--fingerprint",
            "--log-file", str(log), "--simple-log", "--pidfile", str(tmp / "turn.pid"),
            "--min-port", "40000", "--max-port", "40999",
    ]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex((address, port)) == 0:
                    break
            time.sleep(0.05)
        else:
            pytest.fail(f"coturn did not listen: {log.read_text() if log.exists() else ''}")
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()


async def test_expired_turn_credential_is_refused_and_a_fresh_one_allocates(
    netlab: None, tmp_path: Path
) -> None:
    secret = secrets.token_urlsafe(24)
    with School(LinkSpec(), label="turn-auth") as school, coturn(
        school.host_addr, secret, tmp_path
    ) as port:
        fresh = turn_credential(secret, "school-1", ttl=300)
        transport, _ = await create_turn_endpoint(
            asyncio.DatagramProtocol, (school.host_addr, port), fresh.username,
            fresh.credential, transport="tcp",
        )  # fmt: skip
        relayed = transport.get_extra_info("sockname")
        transport.close()
        assert relayed[0] == school.host_addr
        expired = turn_credential(secret, "school-1", ttl=-60)
        with pytest.raises(Exception) as refused:
            await create_turn_endpoint(
                asyncio.DatagramProtocol, (school.host_addr, port), expired.username,
                expired.credential, transport="tcp",
            )  # fmt: skip
        assert "401" in str(refused.value) or "Unauthorized" in str(refused.value)
        forged = turn_credential("another-secret", "school-1", ttl=300)
        with pytest.raises(Exception) as forged_refused:
            await create_turn_endpoint(
                asyncio.DatagramProtocol, (school.host_addr, port), forged.username,
                forged.credential, transport="tcp",
            )  # fmt: skip
        assert "401" in str(forged_refused.value) or "Unauthorized" in str(forged_refused.value)


async def test_classroom_whose_udp_is_blocked_connects_through_turn_over_tcp(
    netlab: None, layer_clips: tuple[Path, Path], settings: Settings, tmp_path: Path
) -> None:
    high, _ = layer_clips
    secret = secrets.token_urlsafe(24)
    settings.auto_record = False
    settings.supervision.webhook_worker = False
    settings.notices.mailer = False
    with School(LinkSpec(block_udp=True), label="firewalled") as school, coturn(
        school.host_addr, secret, tmp_path
    ) as port:
        settings.media.turn.urls = [f"turn:{school.host_addr}:{port}?transport=tcp"]
        settings.media.turn.secret = secret
        async with serve(settings, [school.host_addr]) as server:
            teacher = TongbuClient(server.url(), server.token("teacher", RoomRole.TEACHER))
            await teacher.join()
            try:
                await publish_layers(teacher, high)
                run = asyncio.create_task(
                    attend(school, server.url(school.host_addr), server.token("fw"), 12)
                )
                pair_types: set[str] = set()
                while not run.done():
                    consumer = video_consumer(server, "fw")
                    if consumer is not None and consumer.sender_tap is not None:
                        ice = consumer.sender_tap.sender.transport.transport
                        for pair in getattr(ice._connection, "_nominated", {}).values():
                            pair_types.add(pair.remote_candidate.type)
                    await asyncio.sleep(0.2)
                report = await run
            finally:
                await teacher.close()
    assert pair_types == {"relay"}, pair_types  # the only way in: coturn's relayed address
    assert len(arrivals(report, "audio")) > 100
    assert len(arrivals(report, "video")) > 50
