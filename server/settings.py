"""One typed settings tree for the whole process.

Everything that is a timer, a limit or an address lives here so tests and
deployments change behaviour through `TONGBU_*` environment variables instead
of monkeypatching. Defaults give the embedded mode: SQLite and local files
under `data_dir`.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class IceServer(BaseModel):
    """A STUN or TURN server handed to peers (W3C RTCIceServer shape)."""

    urls: list[str]
    username: str | None = None
    credential: str | None = None


class TurnSettings(BaseModel):
    """TURN REST API credentials (server/api/turn.py) for a coturn with `use-auth-secret`."""

    # e.g. ["turn:turn.example.cn:3478?transport=udp", "turn:turn.example.cn:3478?transport=tcp",
    #       "turns:turn.example.cn:5349?transport=tcp"]; empty: no TURN credentials issued
    urls: list[str] = Field(default_factory=list)
    secret: str | None = None  # coturn's static-auth-secret (TONGBU_MEDIA__TURN__SECRET)
    ttl: int = 6 * 3600  # a credential outlives one lesson, not one day


class MediaSettings(BaseModel):
    """Knobs of the SFU; the media package receives only this object."""

    ice_servers: list[IceServer] = Field(default_factory=list)
    turn: TurnSettings = Field(default_factory=TurnSettings)
    # Public address announced in ICE candidates when the server sits behind NAT.
    announced_address: str | None = None
    udp_port_min: int | None = None
    udp_port_max: int | None = None
    # A consumer's queue of encoded frames; beyond it video is dropped until the
    # next keyframe (audio has its own, larger, queue and is never dropped for video).
    consumer_video_queue: int = 30
    consumer_audio_queue: int = 100
    # At most one keyframe request (PLI) per producer per this many seconds.
    keyframe_request_interval: float = 1.0
    # Keep the last keyframe and the delta frames after it, so a late joiner starts at once.
    keyframe_cache_max_frames: int = 300
    # A late joiner starts from the cached keyframe and the deltas after it when they are
    # at most this many frames (1 s at 30 fps), sent as one burst (above its queue limit if
    # need be); further into the GOP it asks for a fresh keyframe instead: the publisher
    # answers a PLI in a round trip, and many joiners each bursting seconds of video at once
    # overflowed receive buffers and thin links (tongbu bench fanout, 25-50 subscribers).
    keyframe_prime_max_frames: int = 30
    # Seconds a consumer must stay on a layer before the server moves it again.
    layer_switch_hold: float = 4.0

    @model_validator(mode="after")
    def _port_range(self) -> MediaSettings:
        if (self.udp_port_min is None) != (self.udp_port_max is None):
            raise ValueError("udp_port_min and udp_port_max go together")
        if self.udp_port_min is not None and self.udp_port_max is not None:
            if not 1024 <= self.udp_port_min <= self.udp_port_max <= 65535:
                raise ValueError("UDP port range must lie within 1024..65535")
        return self


class AuthSettings(BaseModel):
    """Token lifetimes; short access tokens, refresh for humans, device tokens for classrooms."""

    access_token_ttl: int = 15 * 60
    refresh_token_ttl: int = 14 * 24 * 3600
    device_token_ttl: int = 365 * 24 * 3600
    room_token_ttl: int = 6 * 3600
    pairing_code_ttl: int = 15 * 60
    algorithm: str = "HS256"
    # argon2id cost; the defaults follow RFC 9106's second recommendation, tests lower them.
    password_time_cost: int = 3
    password_memory_kib: int = 64 * 1024
    # Failed logins are slowed by this many seconds to blunt password guessing.
    login_failure_delay: float = 0.2


class SignalingSettings(BaseModel):
    """Limits of the WebSocket protocol."""

    max_message_bytes: int = 64 * 1024
    join_timeout: float = 10.0
    max_messages_per_second: float = 50.0
    # A participant whose connection drops keeps its place this long (others see it as
    # `reconnecting`); it comes back with the resume token of its `joined` (0: no resume).
    resume_grace: float = 30.0
    # Resume attempts per participant per minute (a reconnect loop cannot flood the server).
    resume_attempts_per_minute: int = 20


class InteractionSettings(BaseModel):
    """Classroom interaction (issue 6): floor modes, chat, quizzes; every limit in one place."""

    # Speakers at once: chair mode (a lesson: the teacher talks with one classroom) and
    # the default N of free mode (自由发言) when a moderator switches to it.
    chair_max_speakers: int = Field(default=1, ge=1, le=64)
    free_max_speakers: int = Field(default=4, ge=1, le=64)
    # Longest per-grant time limit a moderator may set (seconds).
    max_grant_seconds: int = 3600
    # Chat: characters per message, token bucket per participant, history for late joiners.
    chat_max_chars: int = Field(default=500, ge=1, le=4000)
    chat_rate: float = 1.0  # messages per second, sustained
    chat_burst: int = 5
    chat_history: int = 50
    # Quizzes: longest time limit, largest hand count per option.
    quiz_max_seconds: int = 3600
    quiz_max_hands: int = 1000


class SupervisionSettings(BaseModel):
    """Usage statistics (督导) and webhooks: limits and timers."""

    # A lesson started on time when its actual start is at most this late.
    on_time_tolerance: int = 5 * 60
    # Longest statistics range in days (a school year plus slack); longer asks get a 422.
    max_range_days: int = 400
    # Rows of one lesson-table export (CSV/XLSX); more is refused with a 422.
    max_export_rows: int = 50_000
    # Webhook delivery: per-request timeout, retry schedule (base * 2**attempt, capped).
    webhook_timeout: float = 5.0
    webhook_max_attempts: int = 8
    webhook_backoff_base: float = 2.0
    webhook_backoff_max: float = 3600.0
    webhook_poll_interval: float = 1.0
    webhook_worker: bool = True


class RecordingSettings(BaseModel):
    """Automatic recording (issue 7): the server supervises one recorder process per live lesson."""

    # Restart a recorder that died while its lesson is live, into a new segment,
    # after restart_delay * 2**n seconds, at most max_restarts times per lesson.
    restart_delay: float = 1.0
    max_restarts: int = 5
    # SIGTERM at lesson end, SIGKILL when the recorder has not finished after this.
    stop_timeout: float = 30.0
    # Lifetime of the recorder's room token (reissued on every restart) and of media links.
    token_ttl: int = 8 * 3600
    media_token_ttl: int = 2 * 3600
    # Used where no org unit up the tree sets its own (None: unlimited / kept forever).
    default_quota_bytes: int | None = None
    default_retention_days: int | None = None


class LibrarySettings(BaseModel):
    """Lesson library (issue 9): upload limits and media-link lifetime."""

    max_document_mb: int = 50  # 课件 PDF, 导学案 PDF/DOCX
    max_video_mb: int = 500  # 微课 MP4
    media_link_ttl: int = 6 * 3600


class NoticeSettings(BaseModel):
    """Timetable notices (issue 9): e-mail through SMTP, the two-day rule, retries."""

    smtp_host: str | None = None  # no host: e-mails stay queued (in-app notices still work)
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_use_tls: bool = False
    smtp_timeout: float = 10.0
    mail_from: str = "tongbu@localhost"
    # Lessons created or moved with less notice than this get the short-notice flag.
    min_notice_hours: float = 48.0
    # Outbox retries: base * 2**attempt seconds, capped; a queued mail is never dropped.
    retry_base: float = 5.0
    retry_max: float = 900.0
    poll_interval: float = 2.0
    mailer: bool = True


class CoursewareSettings(BaseModel):
    """Courseware uploads (课件同步): limits of the file, its pages and their rendering."""

    max_upload_mb: int = 50
    max_pages: int = 300
    # Longest side of a rendered page image, in pixels (a 1080p screen shows it full height).
    page_max_px: int = 1600
    # Source images above this many pixels are refused (Pillow's bomb check is 2x this).
    max_image_pixels: int = 50_000_000
    jpeg_quality: int = 85
    # The rendering child is killed after this many seconds (PDF bombs) ...
    render_timeout: float = 60.0
    # ... and may not use more address space than this (MiB).
    render_memory_mb: int = 1024
    # Pointer moves per participant and second forwarded to the room; the rest are dropped.
    pointer_rate: float = 20.0
    # Annotation strokes kept per page and per open document (`limit_reached` beyond).
    max_strokes_per_page: int = 300
    max_strokes: int = 3000


class Settings(BaseSettings):
    """Process settings; read from `TONGBU_*` env vars (nested with `__`)."""

    model_config = SettingsConfigDict(
        env_prefix="TONGBU_", env_nested_delimiter="__", env_file=None, extra="ignore"
    )

    data_dir: Path = Path("tongbu-data")
    database_url: str | None = None
    storage_dir: Path | None = None
    redis_url: str | None = None
    # Never has a default in the repo: generated once into data_dir when unset.
    secret_key: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = None
    log_json: bool = True
    log_level: str = "INFO"
    # Start a recorder process whenever a lesson goes live (settings.recording tunes it).
    auto_record: bool = True
    # Local time of the schools: `?day=` / `?week=` timetable filters and the demo use it.
    timezone: str = "Asia/Shanghai"
    media: MediaSettings = Field(default_factory=MediaSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    signaling: SignalingSettings = Field(default_factory=SignalingSettings)
    interaction: InteractionSettings = Field(default_factory=InteractionSettings)
    library: LibrarySettings = Field(default_factory=LibrarySettings)
    notices: NoticeSettings = Field(default_factory=NoticeSettings)
    recording: RecordingSettings = Field(default_factory=RecordingSettings)
    supervision: SupervisionSettings = Field(default_factory=SupervisionSettings)
    courseware: CoursewareSettings = Field(default_factory=CoursewareSettings)

    @model_validator(mode="after")
    def _fill_embedded_defaults(self) -> Settings:
        if self.database_url is None:
            self.database_url = f"sqlite+aiosqlite:///{(self.data_dir / 'tongbu.db').resolve()}"
        if self.storage_dir is None:
            self.storage_dir = self.data_dir / "recordings"
        if self.secret_key is not None and len(self.secret_key) < 32:
            raise ValueError("TONGBU_SECRET_KEY must be at least 32 characters")
        return self

    @property
    def db_url(self) -> str:
        assert self.database_url is not None
        return self.database_url

    @property
    def is_sqlite(self) -> bool:
        return self.db_url.startswith("sqlite")

    def ensure_secret(self) -> str:
        """Return the signing secret, creating `data_dir/secret.key` on first use."""
        if self.secret_key:
            return self.secret_key
        self.data_dir.mkdir(parents=True, exist_ok=True)
        path = self.data_dir / "secret.key"
        if not path.exists():
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        self.secret_key = path.read_text().strip()
        return self.secret_key
