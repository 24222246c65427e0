"""Settings: every one from a ``PAYAM_*`` environment variable or the command line.

The secret key is never in the repository: if ``PAYAM_SECRET_KEY`` is unset, one is generated
on first start and kept (mode 0600) in ``<data dir>/secret.key``. It keys the hashes of codes,
of contact numbers and of rate-limit subjects, so changing it invalidates those on purpose.
A key shorter than ``MIN_SECRET_LENGTH`` (an empty variable, a truncated file) is refused
rather than used: an HMAC with an empty key protects nothing.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import secrets
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from payam.domain import limits as domain_limits
from payam.domain.limits import DEFAULT_CODE_RESEND_WAITS, Limit, Rate

MIN_SECRET_LENGTH = 32


class SmsBackend(StrEnum):
    outbox = "outbox"
    http = "http"


class EventBusKind(StrEnum):
    inprocess = "inprocess"
    redis = "redis"


class Switch(StrEnum):
    on = "on"
    off = "off"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAYAM_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("./data")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy async URL; default: SQLite file in the data dir"
    )
    database_schema: str | None = Field(
        default=None, description="PostgreSQL schema to use (search_path); default: public"
    )
    secret_key: SecretStr | None = None
    # SQLite's synchronous pragma: FULL makes every acknowledged commit durable on power loss.
    sqlite_synchronous: str = "FULL"
    # Validate the hot read answers (history, chat list, updates, search) against their
    # documented models before sending them, as FastAPI does for every other route. Off in
    # production, where it was most of their serialising cost (docs/benchmarks.md); the test
    # suite turns it on (tests/conftest.py), so an answer that drifts from its model fails.
    check_answers: bool = False

    default_region: str | None = Field(
        default=None, description="ISO region for numbers written without +, e.g. IR"
    )

    sms_backend: SmsBackend = SmsBackend.outbox
    sms_http_url: str | None = None
    # JSON body template; {to} and {text} are replaced by JSON-escaped values.
    sms_http_body_template: str = '{"to": {to}, "text": {text}}'
    sms_http_headers: dict[str, str] = Field(default_factory=dict)
    sms_http_timeout: float = 10.0
    # P4.3: lines of the outbox backend (numbers and codes) are kept this many hours.
    sms_outbox_retention_hours: int = Field(default=24, ge=1)

    code_ttl_seconds: int = 300
    code_max_attempts: int = 5
    # PAYAM_CODE_RESEND_WAITS=30,60,300 (or a JSON list): NoDecode lets the plain form through.
    code_resend_waits: Annotated[tuple[int, ...], NoDecode] = DEFAULT_CODE_RESEND_WAITS

    rate_limits: Switch = Switch.on
    # PAYAM_TRUSTED_PROXIES=10.0.0.5,192.168.1.0/24: the only peers whose X-Forwarded-For and
    # X-Forwarded-Proto are believed. Empty (the default) believes nobody: a client could
    # otherwise name a new address on every request and start afresh in every per-address limit.
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = ()
    limits: dict[str, str] = Field(
        default_factory=dict, description='overrides by name, e.g. {"auth_code_per_ip": "20/3600"}'
    )

    name_max_length: int = domain_limits.NAME_MAX_LENGTH
    status_max_length: int = domain_limits.STATUS_MAX_LENGTH
    photo_max_bytes: int = 10 * 1024 * 1024
    image_max_pixels: int = 40_000_000
    # P9.2: the most pixels one image is decoded to (a JPEG after its reduced decoding; PNG and
    # WebP whole), checked from the header before decoding: about 4 bytes each while decoding.
    image_max_decode_pixels: int = Field(default=16_777_216, ge=1)
    # How many images are decoded at once, in threads off the event loop; small images (at most
    # SMALL_IMAGE_PIXELS decoded) have as many slots of their own, so they never wait behind
    # large ones.
    image_decode_workers: int = Field(default=2, ge=1, le=64)
    photo_max_side: int = 1280
    thumbnail_side: int = 160

    contacts_max: int = domain_limits.CONTACTS_MAX
    # Largest request body that is not a multipart upload (JSON); uploads have their own limits.
    json_body_max_bytes: int = 1024 * 1024

    message_max_length: int = domain_limits.MESSAGE_MAX_LENGTH
    chat_title_max_length: int = domain_limits.CHAT_TITLE_MAX_LENGTH
    group_member_limit: int = 1000
    # P3.2: who may add an account to groups until its user chooses (PATCH /v1/me group_adds):
    # "contacts" (people whose number the user holds) or "everyone"; others send invitations.
    group_adds_default: Literal["everyone", "contacts"] = "contacts"
    # Media (P9.2, P3.3): largest upload, stored image size, files per message, and how long
    # an upload no message carries is kept before it is deleted.
    media_max_bytes: int = 50 * 1024 * 1024
    media_image_max_side: int = 2560
    media_per_message: int = domain_limits.MEDIA_PER_MESSAGE
    media_unattached_hours: int = 24
    # P10.1: channel statistics suppress any cell describing fewer than this many people.
    stats_min_group: int = 10
    # P10.1: a viewer counts once per post for this many days after the post was made; the
    # salted marks that make it so are dropped afterwards.
    view_dedup_days: int = 7
    # inprocess: one server process. redis: several processes sharing one PostgreSQL.
    event_bus: EventBusKind = EventBusKind.inprocess
    redis_url: str = "redis://127.0.0.1:6379/0"
    # The pub/sub channel; processes sharing one database must share it, others must not.
    redis_channel: str = "payam:updates"
    # Updates a connection may have waiting before it is told to resume.
    ws_buffer_limit: int = 2000
    # Seconds between checks of the open sockets' sessions against the database: what closes
    # a socket whose session end this process never heard of (realtime/session_sweep.py).
    ws_session_check_seconds: float = Field(default=60.0, gt=0)
    # Pages of these origins (scheme://host[:port]) may open the WebSocket besides the server's
    # own; PAYAM_WEB_ORIGINS=https://chat.example.org,https://other.example (or a JSON list).
    web_origins: Annotated[tuple[str, ...], NoDecode] = ()
    # Seconds after a deletion before the index merge and WAL truncation run (P5.3).
    purge_delay_seconds: float = 1.0
    updates_retention_days: int = 30

    access_log_retention_days: int = 30
    code_retention_seconds: int = 86400
    prune_interval_seconds: int = 3600
    # P11.3: the erasure log that ``payam restore`` replays (default <data dir>/erasure-log.jsonl)
    # and how long its lines are kept; a backup older than that cannot be restored.
    erasure_log_path: Path | None = None
    erasure_log_retention_days: int = 90
    # P5.3: how often expired (disappearing) messages are removed from the database files.
    # They leave every answer at their expiry; this bounds how long their bytes stay on disk.
    message_expiry_interval_seconds: float = 10.0
    # How often a device's last-active time and address are written at most.
    device_touch_interval_seconds: int = 60
    # P4.3: access-log addresses are cut to their network (/24, /48) after this many days.
    ip_truncate_after_days: int = 7
    # P4.3: a device unused this long is signed out and forgotten.
    stale_device_days: int = 180
    # P11.1: how long operators' reads of a user's data are kept (and shown in the export).
    admin_audit_retention_days: int = 365
    # P11.3: how long a deleted number's keyed hash blocks a new sign-up with that number.
    erasure_cooldown_days: int = 30
    # P7.2: how long prize-draw winners are kept after the draw.
    draw_retention_days: int = 365
    # P8.2: default notice period before a partner export may run.
    partner_notice_days: int = 30

    # Calls (docs/calls.md): TURN servers handed to clients (comma-separated URIs such as
    # turn:turn.example.org:3478?transport=udp) and coturn's static-auth-secret, from which
    # GET /v1/calls/turn mints credentials valid for turn_ttl_seconds.
    turn_uris: Annotated[tuple[str, ...], NoDecode] = ()
    turn_secret: SecretStr | None = None
    turn_ttl_seconds: int = 3600
    # An invite nobody answers within this many seconds ends as missed.
    call_ring_seconds: int = 60
    # Web Push (docs/push.md): hosts allowed although they resolve to loopback, private or
    # link-local addresses (comma-separated; plain http is then accepted for them too).
    push_allow_hosts: Annotated[tuple[str, ...], NoDecode] = ()
    # The contact the VAPID claim names (RFC 8292 "sub"), a mailto: or https: URL.
    push_contact: str = "mailto:operator@payam.invalid"
    # At most one message push per device this often (calls go at once).
    push_message_interval_seconds: float = 5.0
    # How long a push service may keep an undelivered push, in seconds.
    push_ttl_seconds: int = 86400

    @field_validator("secret_key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().strip()) < MIN_SECRET_LENGTH:
            raise ValueError(f"PAYAM_SECRET_KEY needs at least {MIN_SECRET_LENGTH} characters")
        return value

    @field_validator("limits")
    @classmethod
    def _known_limits(cls, value: dict[str, str]) -> dict[str, str]:
        names = {limit.name for limit in Limit}
        for name, text in value.items():
            if name not in names:
                raise ValueError(f"unknown limit {name!r}; known: {sorted(names)}")
            Rate.parse(text)
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _parse_proxies(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        for entry in value:
            try:  # an address or a network; a typo must not silently trust nobody (or all)
                ipaddress.ip_network(entry, strict=False)
            except ValueError as exc:
                raise ValueError(f"PAYAM_TRUSTED_PROXIES: {entry!r} is no address or CIDR") from exc
        return tuple(value)

    @field_validator("turn_uris", "push_allow_hosts", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("code_resend_waits", mode="before")
    @classmethod
    def _parse_waits(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return tuple(json.loads(text))
            return tuple(int(part) for part in text.split(",") if part.strip())
        return value

    @field_validator("web_origins", mode="before")
    @classmethod
    def _parse_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return tuple(json.loads(text))
            return tuple(part.strip().rstrip("/") for part in text.split(",") if part.strip())
        return value

    @property
    def rate_limits_enabled(self) -> bool:
        return self.rate_limits is Switch.on

    def rate(self, limit: Limit) -> Rate:
        text = self.limits.get(limit.name)
        return Rate.parse(text) if text else limit.default

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'payam.sqlite3').resolve()}"

    def resolved_erasure_log_path(self) -> Path:
        return self.erasure_log_path or self.data_dir / "erasure-log.jsonl"

    def secret(self) -> bytes:
        """The server secret, generated and kept in the data dir on first use if not set."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        path = self.data_dir / "secret.key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            _create_secret_file(path)
        value = path.read_text().strip()
        if len(value) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"{path} does not hold a usable secret (fewer than {MIN_SECRET_LENGTH} "
                "characters). Restore it from a backup; deleting it makes a new one, which "
                "invalidates pending codes and uploaded contacts."
            )
        return value.encode()


def vapid_private_key_pem(data_dir: Path) -> bytes:
    """The server's VAPID key (P-256, PEM), generated into ``<data dir>/vapid.pem`` on first
    use (mode 0600), as the secret key is: a new key would orphan every push subscription."""
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415

    path = data_dir / "vapid.pem"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        _create_file_once(path, pem.decode())
    return path.read_bytes()


def _create_secret_file(path: Path) -> None:
    _create_file_once(path, secrets.token_urlsafe(48))


def _create_file_once(path: Path, content: str) -> None:
    """Write a new key whole under a private name, then link it into place.

    A reader never sees a half-written file, and when several processes start at once the first
    link wins and every process uses that one key (creating ``path`` directly and writing it
    afterwards let a second process read it empty in between).
    """
    staging = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        with contextlib.suppress(FileExistsError):  # another process was first: use theirs
            os.link(staging, path)
    finally:
        staging.unlink(missing_ok=True)
