"""Browser journeys: a real Tongbu server, Debian Chromium through Playwright, real WebRTC.

One uvicorn server per test session (SQLite file migrated by Alembic, seeded by
`server.seed.seed_demo` with known passwords) runs in a thread; one Chromium per
session (fake camera from a y4m clip with a frame counter, fake microphone from a
WAV, both made by ffmpeg); a fresh browser context per test. Every test in this
package is in one xdist group so a CI run with `-n 2` starts one browser, not two.
See ../shared/notes/browser-e2e.md for the flags.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.app import create_app
from server.auth import Passwords
from server.db import migrate
from server.db.engine import Database
from server.seed import DemoSeed, seed_demo
from server.settings import AuthSettings, Settings

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-output" / "screenshots"
DOC_SHOTS = ROOT / "docs" / "screenshots"
# Browser pages run in Beijing time, the product's home zone (and the server default).
TIMEZONE = "Asia/Shanghai"
SECRET = "e2e-secret-" + "y" * 40


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        uses_browser = {"browser", "new_context"} & set(getattr(item, "fixturenames", ()))
        if here in Path(str(item.fspath)).parents and uses_browser:
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.xdist_group("browser"))


def password_for(login: str) -> str:
    return f"pw-{login}-12345"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    settings: Settings
    seed: DemoSeed
    _tokens: dict[str, str] = field(default_factory=dict)

    def client(self, login: str | None = None) -> httpx.Client:
        headers = {}
        if login:
            headers["Authorization"] = f"Bearer {self.token(login)}"
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)

    def token(self, login: str) -> str:
        if login not in self._tokens:
            r = httpx.post(f"{self.url}/api/auth/login",
                           json={"login": login, "password": password_for(login)}, timeout=10)
            r.raise_for_status()
            self._tokens[login] = r.json()["access_token"]
        return self._tokens[login]

    def api(self, method: str, path: str, login: str = "admin", **kw: Any) -> httpx.Response:
        with self.client(login) as c:
            return c.request(method, path, **kw)

    def pair_device(self, classroom_id: int) -> str:
        r = self.api("POST", f"/api/classrooms/{classroom_id}/pairing-code", json={})
        r.raise_for_status()
        code = r.json()["code"]
        r = httpx.post(f"{self.url}/api/devices/pair", json={"code": code}, timeout=10)
        r.raise_for_status()
        return str(r.json()["device_token"])

    def pairing_code(self, classroom_id: int) -> str:
        r = self.api("POST", f"/api/classrooms/{classroom_id}/pairing-code", json={})
        r.raise_for_status()
        return str(r.json()["code"])


def _settings(data_dir: Path) -> Settings:
    return Settings(
        data_dir=data_dir,
        secret_key=SECRET,
        auth=AuthSettings(password_time_cost=1, password_memory_kib=64, login_failure_delay=0),
        log_level="WARNING",
        timezone=TIMEZONE,
    )


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    import uvicorn

    settings = _settings(tmp_path_factory.mktemp("e2e-data"))

    async def prepare() -> DemoSeed:
        await migrate.upgrade(settings)
        db = Database.from_settings(settings)
        await db.open()
        try:
            async with db.session() as session:
                return await seed_demo(session, Passwords(settings), password_for=password_for)
        finally:
            await db.close()

    seed = asyncio.run(prepare())
    app = create_app(settings)
    if not any(getattr(r, "path", None) == "/web" for r in app.routes):
        # server/app.py does not install the web clients yet: do what it will do.
        from server.api.web import install_web

        install_web(app, settings)
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="e2e-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the e2e server did not start")
        time.sleep(0.05)
    live = LiveServer(url=f"http://127.0.0.1:{port}", settings=settings, seed=seed)
    try:
        yield live
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def fake_media(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A 3 s 320x240 test pattern with a frame counter (y4m) and a 440 Hz tone (WAV)."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        from tests.conftest import require

        require(False, "ffmpeg")
    out = tmp_path_factory.mktemp("fake-media")
    clip, tone = out / "clip.y4m", out / "tone.wav"
    subprocess.run(
        [ffmpeg, "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=15",
         "-t", "3", "-pix_fmt", "yuv420p", str(clip)], check=True)
    subprocess.run(
        [ffmpeg, "-loglevel", "error", "-y", "-f", "lavfi", "-i",
         "sine=frequency=440:sample_rate=48000", "-t", "3", "-ac", "1", "-c:a", "pcm_s16le",
         str(tone)], check=True)
    return clip, tone


def chromium_args(clip: Path, tone: Path, fake_ui: str = "") -> list[str]:
    return [
        # "--use-fake-ui-for-media-stream=deny" answers every prompt with "Block".
        f"--use-fake-ui-for-media-stream{'=' + fake_ui if fake_ui else ''}",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={clip}",
        f"--use-file-for-fake-audio-capture={tone}",
        "--allow-loopback-in-peer-connection",
        "--autoplay-policy=no-user-gesture-required",
        # Chromium keeps only the last --disable-features: everything in one.
        "--disable-features=WebRtcHideLocalIpsWithMdns,Translate,MediaRouter,OptimizationHints",
        "--no-sandbox",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-gpu",
        "--disable-dev-shm-usage",
    ]


@pytest.fixture(scope="session")
def playwright_session() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(
    playwright_session: Any, chromium_path: str, fake_media: tuple[Path, Path]
) -> Iterator[Any]:
    b = playwright_session.chromium.launch(
        executable_path=chromium_path, args=chromium_args(*fake_media), headless=True)
    try:
        yield b
    finally:
        b.close()


@pytest.fixture
def denying_browser(
    playwright_session: Any, chromium_path: str, fake_media: tuple[Path, Path]
) -> Iterator[Any]:
    """A browser whose user blocks camera and microphone (the permission prompt says no)."""
    b = playwright_session.chromium.launch(
        executable_path=chromium_path, args=chromium_args(*fake_media, fake_ui="deny"),
        headless=True)
    try:
        yield b
    finally:
        b.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.stash[_FAILED] = report.failed


_FAILED = pytest.StashKey[bool]()


@pytest.fixture
def new_context(
    browser: Any, live_server: LiveServer, request: pytest.FixtureRequest
) -> Iterator[Any]:
    """Factory of browser contexts (closed at the end of the test); pages log console errors."""
    contexts: list[Any] = []

    def make(viewport: tuple[int, int] = (1366, 768), device_token: str | None = None,
             locale: str = "zh-CN", on: Any = None) -> Any:
        ctx = (on or browser).new_context(
            base_url=live_server.url, viewport={"width": viewport[0], "height": viewport[1]},
            locale=locale, timezone_id=TIMEZONE,
        )
        ctx.set_default_timeout(15_000)
        if device_token:
            ctx.add_init_script(f"localStorage.setItem('tongbu.device', {device_token!r});")
        contexts.append(ctx)
        return ctx

    yield make
    if request.node.stash.get(_FAILED, False):
        # Leave evidence: a screenshot of every page the failed test had open.
        out = ROOT / "test-output" / "failures"
        out.mkdir(parents=True, exist_ok=True)
        for i, ctx in enumerate(contexts):
            for j, page in enumerate(ctx.pages):
                try:
                    page.screenshot(path=str(out / f"{request.node.name}-{i}-{j}.png"))
                except Exception:
                    pass
    for ctx in contexts:
        ctx.close()


def login(page: Any, login_name: str, path: str = "/web/index.html") -> None:
    """Log in through the form (the home page redirects to `next` afterwards)."""
    from urllib.parse import quote

    page.goto(f"/web/index.html?next={quote(path)}" if path != "/web/index.html" else path)
    page.get_by_label("账号").fill(login_name)
    page.get_by_label("密码").fill(password_for(login_name))
    page.get_by_role("button", name="登录").click()


def screenshot(page: Any, name: str) -> Path:
    """Save into test-output/screenshots; with TONGBU_DOC_SCREENSHOTS=1 also into docs/."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    if os.environ.get("TONGBU_DOC_SCREENSHOTS") == "1":
        DOC_SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOC_SHOTS / f"{name}.png")
    return path


@dataclass
class LessonSlot:
    id: int
    starts_at: datetime
    ends_at: datetime


@pytest.fixture
def make_lesson(live_server: LiveServer) -> Iterator[Any]:
    """Create lessons through the REST API as the admin; end or cancel them afterwards."""
    made: list[int] = []

    def make(*, starts_in: timedelta = timedelta(minutes=1), minutes: int = 30,
             title: str = "三年级数学 · 分数的初步认识", start: datetime | None = None,
             receivers: list[int] | None = None) -> LessonSlot:
        seed = live_server.seed
        starts_at = (start or datetime.now(UTC) + starts_in).replace(microsecond=0)
        ends_at = starts_at + timedelta(minutes=minutes)
        body = {
            "title": title,
            "teacher_id": seed.accounts["teacher"].user_id,
            "main_classroom_id": seed.main_classroom_id,
            "receiving_classroom_ids": (
                receivers if receivers is not None else seed.receiving_classroom_ids
            ),
            "starts_at": starts_at.isoformat(),
            "ends_at": ends_at.isoformat(),
        }
        r = live_server.api("POST", "/api/lessons", json=body)
        assert r.status_code == 201, r.text
        lesson_id = int(r.json()["items"][0]["id"])
        made.append(lesson_id)
        return LessonSlot(lesson_id, starts_at, ends_at)

    yield make
    for lesson_id in made:
        r = live_server.api("GET", f"/api/lessons/{lesson_id}")
        state = r.json().get("state") if r.status_code == 200 else None
        if state == "live":
            live_server.api("POST", f"/api/lessons/{lesson_id}/end", login="teacher")
        elif state == "scheduled":
            live_server.api("POST", f"/api/lessons/{lesson_id}/cancel")


@pytest.fixture(scope="session", autouse=True)
def _clear_demo_lessons(live_server: LiveServer) -> None:
    """The demo's own lessons (teacher busy from now + 10 min) would clash with test lessons."""
    for lesson_id in live_server.seed.lesson_ids:
        live_server.api("POST", f"/api/lessons/{lesson_id}/cancel")


@pytest.fixture(scope="session")
def device_tokens(live_server: LiveServer) -> dict[int, str]:
    """Device tokens of the first two receiving classrooms (the third is paired through the UI)."""
    ids = live_server.seed.receiving_classroom_ids[:2]
    return {cid: live_server.pair_device(cid) for cid in ids}


def wait_for_frames(page: Any, expression: str, *, minimum: int = 10, timeout: float = 20.0) -> int:
    """Poll `expression` (JS returning framesDecoded or null) until it passes `minimum`."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = page.evaluate(expression)
        if value is not None and value >= minimum:
            return int(value)
        time.sleep(0.25)
    raise AssertionError(f"frames decoded stayed at {value!r} (< {minimum}) for {timeout} s")
