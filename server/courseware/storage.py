"""Where courseware lives on disk, and the streamed, size-limited upload.

Layout: `<data_dir>/courseware/<document id>/source.<ext>` (the original, kept
for re-rendering) and `pages/<n>.jpg`. The upload is written to a temp file
while counting bytes, so a client that lies in Content-Length is cut off at the
limit, not after filling the disk.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

from fastapi import UploadFile

from server.courseware.errors import CoursewareInvalid
from server.courseware.sniff import HEAD_BYTES, SourceKind, sniff
from server.errors import PayloadTooLarge, ValidationFailed
from server.settings import Settings

CHUNK = 1 << 20
EXT = {SourceKind.PDF: "pdf", SourceKind.PNG: "png", SourceKind.JPEG: "jpg"}


def root(settings: Settings) -> Path:
    return settings.data_dir / "courseware"


def document_dir(settings: Settings, document_id: int) -> Path:
    return root(settings) / str(int(document_id))


def page_path(settings: Settings, document_id: int, page: int) -> Path:
    return document_dir(settings, document_id) / "pages" / f"{int(page)}.jpg"


def clean_filename(name: str | None) -> str:
    """The base name only, control characters removed, at most 200 characters."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip()
    if not base or base in (".", ".."):
        raise ValidationFailed("the upload has no file name")
    return base[-200:]


@dataclass(frozen=True)
class Received:
    path: Path
    kind: SourceKind
    size: int
    sha256: str


async def receive(upload: UploadFile, settings: Settings) -> Received:
    """Stream the upload into a temp file; 413 over the limit, 422 when it is no PDF/PNG/JPEG."""
    limit = settings.courseware.max_upload_mb * (1 << 20)
    incoming = root(settings) / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    tmp = incoming / uuid.uuid4().hex
    digest = hashlib.sha256()
    size = 0
    head = b""
    ok = False
    try:
        with tmp.open("wb") as out:
            while chunk := await upload.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(
                        f"file larger than the limit of {settings.courseware.max_upload_mb} MiB",
                        {"limit_bytes": limit},
                    )
                if len(head) < HEAD_BYTES:
                    head += chunk[: HEAD_BYTES - len(head)]
                digest.update(chunk)
                await asyncio.to_thread(out.write, chunk)
        if size == 0:
            raise CoursewareInvalid("the file is empty", {"reason": "empty"})
        kind = sniff(head)
        if kind is None:
            raise CoursewareInvalid(
                "only PDF, PNG and JPEG files are accepted (judged by content, not name)",
                {"reason": "unsupported_type"},
            )
        ok = True
        return Received(tmp, kind, size, digest.hexdigest())
    finally:
        if not ok:
            tmp.unlink(missing_ok=True)
