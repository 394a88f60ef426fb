"""The type of an upload from its content (magic bytes); the file name is never trusted."""

from __future__ import annotations

from server.db.models_collab import SourceKind

_MAGIC: tuple[tuple[bytes, SourceKind], ...] = (
    (b"%PDF-", SourceKind.PDF),
    (b"\x89PNG\r\n\x1a\n", SourceKind.PNG),
    (b"\xff\xd8\xff", SourceKind.JPEG),
)

# How many leading bytes `sniff` needs. PDF readers accept a header within the
# first 1024 bytes, but an upload that does not *start* with it is refused:
# that keeps polyglot files (a ZIP or an HTML page with a PDF header further
# down) out.
HEAD_BYTES = 16


def sniff(head: bytes) -> SourceKind | None:
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    return None
