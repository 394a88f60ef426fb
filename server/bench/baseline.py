"""The naive baseline: aiortc's `MediaRelay` (decode once, encode per subscriber).

This is what an aiortc server does out of the box: the receiver's decoder thread
turns the publisher's frames into raw pictures, and each subscriber's sender
encodes them again. It exists only so `tongbu bench fanout` can measure Tongbu
against it in the same run on the same machine.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamTrack
from fastapi import FastAPI
from pydantic import BaseModel


class Offer(BaseModel):
    sdp: str
    type: str = "offer"


def create_baseline_app() -> FastAPI:
    relay = MediaRelay()
    sources: dict[str, MediaStreamTrack] = {}
    have_sources = asyncio.Event()
    pcs: set[RTCPeerConnection] = set()
    app = FastAPI(title="MediaRelay baseline")

    async def _answer(pc: RTCPeerConnection, offer: Offer) -> dict[str, Any]:
        await pc.setRemoteDescription(RTCSessionDescription(offer.sdp, offer.type))
        await pc.setLocalDescription(await pc.createAnswer())
        return {"sdp": pc.localDescription.sdp, "type": pc.localDescription.type}

    @app.post("/publish")
    async def publish(offer: Offer) -> dict[str, Any]:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pcs.add(pc)

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            sources[track.kind] = track
            if {"audio", "video"} <= sources.keys():
                have_sources.set()

        return await _answer(pc, offer)

    @app.post("/subscribe")
    async def subscribe(offer: Offer) -> dict[str, Any]:
        await asyncio.wait_for(have_sources.wait(), 10)
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pcs.add(pc)
        await pc.setRemoteDescription(RTCSessionDescription(offer.sdp, offer.type))
        for kind in ("video", "audio"):
            pc.addTrack(relay.subscribe(sources[kind], buffered=False))
        await pc.setLocalDescription(await pc.createAnswer())
        return {"sdp": pc.localDescription.sdp, "type": pc.localDescription.type}

    @app.on_event("shutdown")
    async def close() -> None:
        await asyncio.gather(*(pc.close() for pc in pcs), return_exceptions=True)

    return app
