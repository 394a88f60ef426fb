"""同步视讯 in the browser: a host and a participant; the participant is heard after the host
grants the floor; the host shares the screen (Chromium's fake capture) and the participant
receives it."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.conftest import LiveServer, login, screenshot, wait_for_frames

pytestmark = pytest.mark.media

# framesDecoded of the video shown in the tile with this data-key (null when absent).
TILE_FRAMES = """async (key) => {
  const s = window.tongbu && window.tongbu.session;
  const v = document.querySelector(`.room-tile[data-key="${key}"] video`);
  if (!s || !s.sub || !v || !v.srcObject) return null;
  const track = v.srcObject.getVideoTracks()[0];
  if (!track) return null;
  const stats = await s.inboundVideo();
  const mine = stats.find((x) => x.trackIdentifier === track.id);
  return mine ? (mine.framesDecoded || 0) : 0;
}"""

# Audio packets the page received from one participant's microphone (null before consuming).
AUDIO_PACKETS = """async (pid) => {
  const s = window.tongbu && window.tongbu.session;
  if (!s || !s.sub) return null;
  const mic = s.producersOf(pid, { kind: 'audio' })[0];
  const track = mic && s.trackOf(mic.id);
  if (!track) return null;
  const report = await s.sub.getStats();
  let n = 0;
  report.forEach((x) => {
    if (x.type === 'inbound-rtp' && x.trackIdentifier === track.id) n = x.packetsReceived || 0;
  });
  return n;
}"""


def test_host_grants_the_floor_and_shares_the_screen(
    new_context: Any, live_server: LiveServer
) -> None:
    seed = live_server.seed
    now = datetime.now(UTC)
    r = live_server.api("POST", "/api/meetings", login="county_admin", json={
        "title": "全旗教学工作会", "starts_at": now.isoformat(),
        "ends_at": (now + timedelta(hours=1)).isoformat(),
        "invite_user_ids": [seed.accounts["teacher"].user_id]})
    assert r.status_code == 201, r.text
    meeting = r.json()["id"]

    host = new_context().new_page()
    login(host, "county_admin", f"/web/meeting.html?meeting={meeting}")
    host.locator("#my-role").filter(has_text="主持人").wait_for()
    guest = new_context().new_page()
    login(guest, "teacher", f"/web/meeting.html?meeting={meeting}")
    guest.locator("#my-role").filter(has_text="参会者").wait_for()
    guest.wait_for_function(
        "() => window.tongbu.session.published.some(e => e.producerId && e.source === 'camera')"
    )
    pid = guest.evaluate("window.tongbu.session.participantId")
    key = f"{pid}:camera"
    # The participant publishes at once; the host sees the picture (like a teacher's tile)
    # but hears nothing before the floor.
    wait_for_frames(host, f"() => ({TILE_FRAMES})({key!r})", minimum=10)
    time.sleep(1.0)
    assert not host.evaluate(AUDIO_PACKETS, pid)

    guest.locator("#raise-hand").click()
    host.locator(f"#hand-queue li[data-participant-id='{pid}']").wait_for()
    host.locator(f"#hand-queue li[data-participant-id='{pid}'] .grant").click()
    guest.locator("#raise-hand").filter(has_text="正在发言").wait_for()
    wait_for_frames(host, f"() => ({AUDIO_PACKETS})({pid!r})", minimum=20)

    # Screen share: Chromium's fake UI accepts getDisplayMedia and captures a fake screen.
    hid = host.evaluate("window.tongbu.session.participantId")
    host.locator("#share-screen").click()
    host.locator("#share-screen[aria-pressed='true']").wait_for()
    guest.locator(f".room-tile[data-key='{hid}:screen']").wait_for()
    wait_for_frames(guest, f"() => ({TILE_FRAMES})({f'{hid}:screen'!r})", minimum=5)
    screenshot(guest, "meeting-screen-share")
    screenshot(host, "meeting-host")

    host.locator("#end-meeting").click()
    guest.locator("#meeting-closed").wait_for(timeout=15_000)
    assert live_server.api("GET", f"/api/meetings/{meeting}",
                           login="county_admin").json()["state"] == "ended"
