"""Server restart: a `tongbu serve` process is killed and started again; the main classroom
and a receiving classroom come back by themselves (same participant ids) and media flows."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from clients.python import TongbuClient
from server.tokens import RoomRole, issue_room_token

from .media import REPO, publish_layers

pytestmark = pytest.mark.media

SECRET = "restart-secret-" + "z" * 40


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    def __init__(self, data_dir: Path, port: int) -> None:
        self.port = port
        self.env = {
            **os.environ,
            "TONGBU_DATA_DIR": str(data_dir),
            "TONGBU_SECRET_KEY": SECRET,
            "TONGBU_AUTO_RECORD": "false",
            "TONGBU_SUPERVISION__WEBHOOK_WORKER": "false",
            "TONGBU_NOTICES__MAILER": "false",
            "TONGBU_LOG_LEVEL": "WARNING",
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from server.cli import app; app()", "serve",
             "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "the server exited"
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.1)
        pytest.fail("the server did not listen")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path / "data", _free_port())
    try:
        yield server
    finally:
        if server.proc is not None and server.proc.poll() is None:
            server.proc.terminate()
            try:
                server.proc.wait(15)
            except subprocess.TimeoutExpired:
                server.proc.kill()


def _token(identity: str, role: RoomRole) -> str:
    return issue_room_token(SECRET, room="village-1", identity=identity, role=role, ttl=600)


async def test_classrooms_come_back_after_the_server_process_is_killed(
    server_process: ServerProcess, layer_clips: tuple[Path, Path]
) -> None:
    high, low = layer_clips
    await asyncio.to_thread(server_process.start)
    url = f"ws://127.0.0.1:{server_process.port}/ws"
    teacher = TongbuClient(url, _token("main", RoomRole.TEACHER), decode=False, reconnect=True)
    school = TongbuClient(url, _token("school-1", RoomRole.CLASSROOM), decode=False, reconnect=True)
    try:
        await teacher.join()
        await publish_layers(teacher, high, low)
        await school.join()
        await school.wait_until(lambda: sum(school.frames.values()) > 30, within=20)
        ids = (teacher.participant_id, school.participant_id)

        server_process.kill()  # no shutdown, no `closed`: sockets just die
        killed_at = time.monotonic()
        await asyncio.sleep(1.0)
        await asyncio.to_thread(server_process.start)
        listening_at = time.monotonic()

        await school.wait_until(lambda: school.reconnects == 1, within=30)
        await teacher.wait_until(lambda: teacher.reconnects == 1, within=30)
        assert (teacher.participant_id, school.participant_id) == ids  # same places
        assert teacher.joined is not None and not teacher.joined.resumed  # rebuilt, not kept
        await teacher.wait_until(lambda: len(teacher.published) == 3, within=20)
        before = sum(school.frames.values())
        await school.wait_until(lambda: sum(school.frames.values()) > before + 30, within=30)
        back_after = time.monotonic() - killed_at
        since_up = time.monotonic() - listening_at
        print(f"back {back_after:.1f} s after the kill, {since_up:.1f} s after it listened")
        assert back_after < 40, back_after  # (the target, ≤ 10 s, is for tongbu bench)
        assert not school.closed.is_set() and not teacher.closed.is_set()
    finally:
        await school.close()
        await teacher.close()
