"""The open courseware page as a picture for the broadcast (课件同步 → TV).

The courseware feature keeps the open document, the page and its strokes in
the room; `TongbuClient.courseware` mirrors them from signaling. This follower
watches that view, fetches the page image over HTTP (its URL is signed and
short-lived; on a 401/403/404 it asks for a fresh state with `courseware_sync`),
draws the strokes (normalised 0..1 points) with Pillow, and hands the result
to the compositor as one frame. Page images are cached per document and page.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
from typing import Any

import av
import httpx
import numpy as np
import structlog

from server.broadcast.compose import Compositor
from server.broadcast.status import BroadcastStatus

log = structlog.get_logger("tongbu.broadcast.courseware")
POLL = 0.25


def http_base(ws_url: str) -> str:
    """ws://host:port/ws → http://host:port (wss → https)."""
    base = ws_url.removesuffix("/ws")
    return "https://" + base[6:] if base.startswith("wss://") else "http://" + base[5:]


def render_page(image: Any, strokes: list[Any]) -> Any:
    """The page with its strokes drawn, as an av.VideoFrame (rgb24)."""
    from PIL import ImageDraw

    page = image.copy()
    draw = ImageDraw.Draw(page)
    w, h = page.size
    for stroke in strokes:
        points = [(float(p[0]) * w, float(p[1]) * h) if isinstance(p, (list, tuple))
                  else (float(p.x) * w, float(p.y) * h) for p in stroke.points]
        if len(points) >= 2:
            draw.line(points, fill=stroke.color, width=max(2, round(stroke.width * w / 800)),
                      joint="curve")
    return av.VideoFrame.from_ndarray(np.asarray(page, dtype=np.uint8), format="rgb24")


async def follow_courseware(client: Any, comp: Compositor, base_url: str,
                            status: BroadcastStatus) -> None:
    """Keep `comp.courseware` equal to the room's current page; runs until cancelled."""
    from PIL import Image

    cache: dict[tuple[int, int], Any] = {}
    shown: Any = None
    async with httpx.AsyncClient(base_url=base_url, timeout=15) as http:
        while True:
            view = client.courseware
            doc = view.document
            key = None if doc is None else (doc.id, view.page, tuple(s.id for s in view.strokes))
            if key != shown:
                if doc is None:
                    comp.courseware = None
                    shown = key
                else:
                    page_key = (doc.id, view.page)
                    image = cache.get(page_key)
                    if image is None and 1 <= view.page <= len(doc.pages):
                        try:
                            r = await http.get(doc.pages[view.page - 1].url)
                        except httpx.HTTPError as exc:  # the server is restarting: next poll
                            log.info("courseware page fetch failed", error=str(exc))
                            await asyncio.sleep(1.0)
                            continue
                        if r.status_code == 200:
                            image = Image.open(io.BytesIO(r.content)).convert("RGB")
                            cache[page_key] = image
                        else:
                            log.info("courseware page not loaded", status=r.status_code)
                            with contextlib.suppress(Exception):
                                await client.courseware_sync()  # fresh page links
                    if image is not None:
                        comp.courseware = await asyncio.to_thread(
                            render_page, image, list(view.strokes))
                        status.inputs["courseware"] = status.inputs.get("courseware", 0) + 1
                        shown = key
            await asyncio.sleep(POLL)
