"""Where a broadcast goes: an RTMP(S) URL, or MPEG-TS over UDP or SRT."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from server.errors import ValidationFailed

Scheme = Literal["rtmp", "rtmps", "udp", "srt"]
MUXER = {"rtmp": "flv", "rtmps": "flv", "udp": "mpegts", "srt": "mpegts"}


@dataclass(frozen=True)
class Target:
    url: str
    scheme: Scheme
    host: str
    port: int | None

    @property
    def muxer(self) -> str:
        return MUXER[self.scheme]

    @property
    def redacted(self) -> str:
        """The URL without credentials or query (stream keys live there): safe to log."""
        parts = urlsplit(self.url)
        netloc = parts.hostname or ""
        if parts.port:
            netloc += f":{parts.port}"
        path = parts.path
        if self.scheme in ("rtmp", "rtmps") and path.count("/") >= 2:
            path = path.rsplit("/", 1)[0] + "/***"  # the last segment is the stream key
        return urlunsplit((parts.scheme, netloc, path, "", ""))

    def output_args(self) -> list[str]:
        """ffmpeg output options for this target (after the codec options)."""
        if self.scheme == "udp":
            url = self.url if "pkt_size" in self.url else (
                self.url + ("&" if "?" in self.url else "?") + "pkt_size=1316")
            return ["-f", "mpegts", "-mpegts_flags", "resend_headers", url]
        if self.scheme == "srt":
            return ["-f", "mpegts", self.url]
        return ["-f", "flv", self.url]


def parse_target(url: str) -> Target:
    """Validate a destination URL; a clear 422 for anything ffmpeg should not be given."""
    if not url or len(url) > 1000 or any(ch in url for ch in "\x00\r\n "):
        raise ValidationFailed("broadcast URL is empty, too long or has spaces", {"to": url})
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in MUXER:
        raise ValidationFailed(
            "broadcast URL must be rtmp://, rtmps://, udp:// or srt://", {"to": url}
        )
    if not parts.hostname:
        raise ValidationFailed("broadcast URL has no host", {"to": url})
    try:
        port = parts.port
    except ValueError as exc:
        raise ValidationFailed("broadcast URL has an invalid port", {"to": url}) from exc
    if scheme in ("udp", "srt") and port is None:
        raise ValidationFailed(f"a {scheme}:// URL needs a port", {"to": url})
    if scheme in ("rtmp", "rtmps") and parts.path.strip("/") == "":
        raise ValidationFailed("an RTMP URL needs an application path, e.g. /live/key",
                               {"to": url})
    return Target(url=url, scheme=scheme, host=parts.hostname, port=port)  # type: ignore[arg-type]
