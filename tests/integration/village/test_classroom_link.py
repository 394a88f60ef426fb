"""A receiving classroom (a TongbuClient process) inside a namespace, behind NAT."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from clients.python.client import TongbuClient
from server.netlab import LinkSpec, School
from server.netlab.quality import stream_quality
from server.netlab.serve import serve
from server.settings import Settings
from server.tokens import RoomRole

from .media import arrivals, attend, publish_layers, video_consumer, watch_layers

# Emulated links and real-time media share the 2-core machine with the rest of the suite:
# a starved classroom process looks like a bad link. Each attempt asserts everything.
pytestmark = [pytest.mark.realtime, pytest.mark.flaky(reruns=2, reruns_delay=2)]


def _quiet(settings: Settings) -> Settings:
    settings.auto_record = False
    settings.supervision.webhook_worker = False
    settings.notices.mailer = False
    return settings


async def test_classroom_behind_nat_on_a_village_link_gets_sound_and_picture(
    netlab: None, layer_clips: tuple[Path, Path], settings: Settings
) -> None:
    high, low = layer_clips
    spec = LinkSpec(rate_kbit=1000, loss=0.05, delay_ms=100, seed=11)
    with School(spec, label="village") as school:
        async with serve(_quiet(settings), [school.host_addr]) as server:
            teacher = TongbuClient(server.url(), server.token("teacher", RoomRole.TEACHER))
            await teacher.join()
            try:
                await publish_layers(teacher, high, low)
                report = await attend(
                    school, server.url(school.host_addr), server.token("village-1"), 12
                )
            finally:
                await teacher.close()
    audio, video = arrivals(report, "audio"), arrivals(report, "video")
    assert audio and video, report["streams"].keys()
    start, end = video[0] + 5, report["ended"] - 0.5  # settled: 5 s after the first picture
    qa, qv = stream_quality(audio, start, end), stream_quality(video, start, end)
    assert qa.fps > 40 and qa.max_gap < 0.5, qa  # 50 packets/s sent; 5% lost each way
    assert qv.fps > 10 and qv.max_gap < 3, qv  # 20 fps sent (freezes: tongbu bench village)


async def test_thin_link_moves_the_consumer_to_the_low_layer_and_a_clean_one_stays_high(
    netlab: None, layer_clips: tuple[Path, Path], settings: Settings
) -> None:
    high, low = layer_clips
    thin = LinkSpec(rate_kbit=450, loss=0.02, seed=5)
    with School(thin, label="thin") as thin_school, School(LinkSpec(), label="clean") as clean:
        hosts = [thin_school.host_addr, clean.host_addr]
        async with serve(_quiet(settings), hosts) as server:
            teacher = TongbuClient(server.url(), server.token("teacher", RoomRole.TEACHER))
            await teacher.join()
            try:
                await publish_layers(teacher, high, low)
                thin_run = asyncio.create_task(
                    attend(thin_school, server.url(thin_school.host_addr), server.token("thin"), 14)
                )
                clean_run = asyncio.create_task(
                    attend(clean, server.url(clean.host_addr), server.token("clean"), 14)
                )
                thin_layers, clean_layers = await asyncio.gather(
                    watch_layers(server, "thin", thin_run), watch_layers(server, "clean", clean_run)
                )
                thin_report, clean_report = await thin_run, await clean_run
            finally:
                await teacher.close()
    assert ("low", False) in [s[1:] for s in thin_layers], thin_layers
    assert thin_layers[-1][1] == "low", thin_layers  # 600 kbit/s does not fit 450 kbit/s
    assert {s[1] for s in clean_layers if s[1]} == {"high"}, clean_layers
    video = arrivals(thin_report, "video")
    switched = next(t for t, layer, _ in thin_layers if layer == "low")
    after = stream_quality(video, switched + 2, thin_report["ended"] - 0.5)
    assert after.fps > 10, after  # the low layer plays
    clean_video = arrivals(clean_report, "video")
    q = stream_quality(clean_video, clean_video[0] + 3, clean_report["ended"] - 0.5)
    assert q.fps > 15 and q.max_gap < 2, q


async def test_a_link_too_thin_for_any_layer_keeps_sound_and_stops_video(
    netlab: None, layer_clips: tuple[Path, Path], settings: Settings
) -> None:
    high, low = layer_clips
    with School(LinkSpec(rate_kbit=130, seed=6), label="dialup") as school:
        async with serve(_quiet(settings), [school.host_addr]) as server:
            teacher = TongbuClient(server.url(), server.token("teacher", RoomRole.TEACHER))
            await teacher.join()
            try:
                await publish_layers(teacher, high, low)
                run = asyncio.create_task(
                    attend(school, server.url(school.host_addr), server.token("dialup"), 16)
                )
                layers = await watch_layers(server, "dialup", run)
                report = await run
                consumer_stats = None
            finally:
                await teacher.close()
    assert any(audio_only for _, _, audio_only in layers), layers
    gone = next(t for t, _, audio_only in layers if audio_only)
    audio = arrivals(report, "audio")
    q = stream_quality(audio, gone + 1, report["ended"] - 0.5)
    assert q.fps > 40 and q.max_gap < 0.3, q  # sound goes on once video is off
    assert consumer_stats is None or video_consumer is not None
