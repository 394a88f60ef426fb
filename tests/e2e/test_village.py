"""A Chromium classroom on a village link: its link is cut, it comes back on its own.

The classroom page runs in a Chromium launched inside a netlab school namespace
(behind NAT). The e2e server listens on loopback only, so a small TCP relay on
the school's host address carries HTTP and the WebSocket; media goes straight
to the SFU's host candidate through the school's NAT router.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from server.netlab import LinkSpec, School, netlab_available
from tests.conftest import require
from tests.e2e.conftest import TIMEZONE, LiveServer, chromium_args, screenshot, wait_for_frames
from tests.e2e.test_live import ANY_VIDEO, open_teacher, start, wait_live

pytestmark = pytest.mark.media


class Relay:
    """TCP relay ``listen`` → ``target`` in threads (HTTP + WebSocket of the e2e server)."""

    def __init__(self, listen: tuple[str, int], target: tuple[str, int]) -> None:
        self.target = target
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(listen)
        self.sock.listen(64)
        self.port = int(self.sock.getsockname()[1])
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def village_browser(
    playwright_session: Any, chromium_path: str, fake_media: tuple[Path, Path], tmp_path: Path
) -> Iterator[tuple[Any, School]]:
    ok, what = netlab_available()
    require(ok, f"netlab ({what})")
    with School(LinkSpec(rate_kbit=2000, delay_ms=30, seed=9), label="e2e-village") as school:
        wrapper = tmp_path / "chromium-in-school"
        wrapper.write_text(
            f'#!/bin/sh\nexec ip netns exec {school.school_ns} {chromium_path} "$@"\n'
        )
        wrapper.chmod(0o755)
        browser = playwright_session.chromium.launch(
            executable_path=str(wrapper), args=chromium_args(*fake_media), headless=True
        )
        try:
            yield browser, school
        finally:
            browser.close()


def test_classroom_on_a_village_link_comes_back_by_itself_after_a_cut(
    new_context: Any,
    live_server: LiveServer,
    make_lesson: Any,
    device_tokens: dict[int, str],
    village_browser: tuple[Any, School],
) -> None:
    browser, school = village_browser
    port = int(live_server.url.rsplit(":", 1)[1])
    relay = Relay((school.host_addr, 0), ("127.0.0.1", port))
    try:
        lesson = make_lesson(title="乡村教学点 · 断网重连")
        token = device_tokens[live_server.seed.receiving_classroom_ids[0]]
        ctx = browser.new_context(
            base_url=f"http://{school.host_addr}:{relay.port}",
            viewport={"width": 1366, "height": 768},
            locale="zh-CN",
            timezone_id=TIMEZONE,
        )
        ctx.set_default_timeout(30_000)
        ctx.add_init_script(f"localStorage.setItem('tongbu.device', {token!r});")
        room = ctx.new_page()
        room.goto("/classroom?poll=700")
        room.locator("#waiting").wait_for()

        teacher = open_teacher(new_context, lesson.id)
        start(teacher)
        wait_live(room)
        wait_for_frames(room, ANY_VIDEO, minimum=10, timeout=30)
        pid = room.evaluate("window.tongbu.session.participantId")
        room.evaluate("window.__notReloaded = true")

        school.cut()  # longer than the page's 12 s heartbeat: it drops the socket and retries
        time.sleep(15)
        school.restore()

        room.wait_for_function(
            "(pid) => window.tongbu.phase === 'live' && window.tongbu.session"
            " && window.tongbu.session.resumed && window.tongbu.session.participantId === pid",
            arg=pid,
            timeout=45_000,
        )
        assert room.evaluate("window.__notReloaded === true"), "the page reloaded"
        before = room.evaluate(ANY_VIDEO) or 0
        wait_for_frames(room, ANY_VIDEO, minimum=before + 10, timeout=30)
        screenshot(room, "classroom-after-cut")
        teacher.wait_for_function(
            "(pid) => window.tongbu.session.participants.has(pid)"
            " && window.tongbu.session.participants.get(pid).state === 'connected'",
            arg=pid,
        )
    finally:
        relay.close()
