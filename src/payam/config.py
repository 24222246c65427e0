"""Settings: every one from a ``PAYAM_*`` environment variable or the command line.

The secret key is never in the repository: if ``PAYAM_SECRET_KEY`` is unset, one is generated
on first start and kept (mode 0600) in ``<data dir>/secret.key``. It keys the hashes of codes,
of contact numbers and of rate-limit subjects, so changing it invalidates those on purpose.
"""

from __future__ import annotations

import os
import secrets
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from payam.domain.limits import DEFAULT_CODE_RESEND_WAITS, Limit, Rate


class SmsBackend(StrEnum):
    outbox = "outbox"
    http = "http"


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

    default_region: str | None = Field(
        default=None, description="ISO region for numbers written without +, e.g. IR"
    )

    sms_backend: SmsBackend = SmsBackend.outbox
    sms_http_url: str | None = None
    # JSON body template; {to} and {text} are replaced by JSON-escaped values.
    sms_http_body_template: str = '{"to": {to}, "text": {text}}'
    sms_http_headers: dict[str, str] = Field(default_factory=dict)
    sms_http_timeout: float = 10.0

    code_ttl_seconds: int = 300
    code_max_attempts: int = 5
    code_resend_waits: tuple[int, ...] = DEFAULT_CODE_RESEND_WAITS

    rate_limits: Switch = Switch.on
    limits: dict[str, str] = Field(
        default_factory=dict, description='overrides by name, e.g. {"auth_code_per_ip": "20/3600"}'
    )

    name_max_length: int = 64
    status_max_length: int = 140
    photo_max_bytes: int = 10 * 1024 * 1024
    image_max_pixels: int = 40_000_000
    photo_max_side: int = 1280
    thumbnail_side: int = 160

    contacts_max: int = 5000

    access_log_retention_days: int = 30
    code_retention_seconds: int = 86400
    prune_interval_seconds: int = 3600
    # How often a device's last-active time and address are written at most.
    device_touch_interval_seconds: int = 60

    @field_validator("limits")
    @classmethod
    def _known_limits(cls, value: dict[str, str]) -> dict[str, str]:
        names = {limit.name for limit in Limit}
        for name, text in value.items():
            if name not in names:
                raise ValueError(f"unknown limit {name!r}; known: {sorted(names)}")
            Rate.parse(text)
        return value

    @field_validator("code_resend_waits", mode="before")
    @classmethod
    def _parse_waits(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(int(part) for part in value.split(",") if part.strip())
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

    def secret(self) -> bytes:
        """The server secret, generated and kept in the data dir on first use if not set."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        path = self.data_dir / "secret.key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another process made it first: use theirs
                pass
            else:
                with os.fdopen(fd, "w") as fh:
                    fh.write(secrets.token_urlsafe(48))
        return path.read_text().strip().encode()
