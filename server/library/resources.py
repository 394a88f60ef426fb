"""Uploaded resources of a library entry (课件 PDF, 导学案, 微课 video): checks and storage.

A file is accepted only when its kind, extension, declared type, *content*
(magic bytes) and size agree: a renamed executable is not a PDF, and the size
limit is enforced while streaming (a client that lies in Content-Length is cut
off at the limit, not after filling the disk). Files are stored under
`storage_dir/library/<entry>/<sha256>.<ext>`, written to a temp file first.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

from fastapi import UploadFile

from server.db.models_reach import ResourceKind
from server.errors import PayloadTooLarge, ValidationFailed

CHUNK = 1 << 20


@dataclass(frozen=True)
class FileType:
    ext: str
    content_type: str
    magic: tuple[tuple[int, bytes], ...]  # (offset, bytes) any of which must match


PDF = FileType("pdf", "application/pdf", ((0, b"%PDF-"),))
DOCX = FileType(
    "docx",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ((0, b"PK\x03\x04"),),
)
MP4 = FileType("mp4", "video/mp4", ((4, b"ftyp"),))

ALLOWED: dict[ResourceKind, tuple[FileType, ...]] = {
    ResourceKind.COURSEWARE: (PDF,),
    ResourceKind.GUIDE: (PDF, DOCX),
    ResourceKind.MICROLESSON: (MP4,),
}


@dataclass(frozen=True)
class StoredFile:
    filename: str
    content_type: str
    size: int
    sha256: str
    key: str


def clean_filename(name: str | None) -> str:
    """The base name only, control characters removed, at most 200 characters."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip()
    if not base or base in (".", ".."):
        raise ValidationFailed("the upload has no file name")
    return base[-200:]


def file_type_for(kind: ResourceKind, filename: str) -> FileType:
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    for ftype in ALLOWED[kind]:
        if ftype.ext == ext:
            return ftype
    raise ValidationFailed(
        f"a {kind.value} resource must be one of: "
        + ", ".join(f".{t.ext}" for t in ALLOWED[kind]),
        {"kind": kind.value, "filename": filename},
    )


def limit_for(kind: ResourceKind, max_document: int, max_video: int) -> int:
    return max_video if kind is ResourceKind.MICROLESSON else max_document


async def store_upload(
    upload: UploadFile, kind: ResourceKind, *, root: Path, entry_id: int, limit: int
) -> StoredFile:
    """Validate and write the upload; raises 413 over `limit`, 422 on a type mismatch."""
    filename = clean_filename(upload.filename)
    ftype = file_type_for(kind, filename)
    declared = (upload.content_type or "").split(";")[0].strip().lower()
    if declared not in ("", "application/octet-stream", ftype.content_type):
        raise ValidationFailed("declared content type does not match the file",
                               {"content_type": declared, "expected": ftype.content_type})
    directory = root / "library" / str(entry_id)
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f".upload-{uuid.uuid4().hex}"
    digest = hashlib.sha256()
    size = 0
    head = b""
    try:
        with tmp.open("wb") as out:
            while chunk := await upload.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(
                        f"file larger than the limit of {limit // (1 << 20)} MiB",
                        {"limit_bytes": limit},
                    )
                if len(head) < 16:
                    head += chunk[: 16 - len(head)]
                digest.update(chunk)
                await asyncio.to_thread(out.write, chunk)
        if size == 0:
            raise ValidationFailed("the file is empty")
        if not any(head[off : off + len(magic)] == magic for off, magic in ftype.magic):
            raise ValidationFailed(
                f"the file's content is not {ftype.ext.upper()}",
                {"kind": kind.value, "filename": filename},
            )
        sha = digest.hexdigest()
        final = directory / f"{sha}.{ftype.ext}"
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    return StoredFile(filename, ftype.content_type, size, sha,
                      f"library/{entry_id}/{sha}.{ftype.ext}")
