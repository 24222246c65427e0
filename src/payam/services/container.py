"""The set of services a door (HTTP, WebSocket, CLI) talks to. Built only by ``payam.app``."""

from __future__ import annotations

from dataclasses import dataclass

from payam.adapters.blobs import BlobStore
from payam.config import Settings
from payam.domain.clock import Clock
from payam.services.access_log import AccessLogWriter
from payam.services.auth import AuthService
from payam.services.contacts import ContactService
from payam.services.limiter import RateLimiter
from payam.services.maintenance import Maintenance
from payam.services.profiles import ProfileService
from payam.storage.database import Database


@dataclass
class Services:
    settings: Settings
    clock: Clock
    db: Database
    blobs: BlobStore
    limiter: RateLimiter
    auth: AuthService
    profiles: ProfileService
    contacts: ContactService
    access_log: AccessLogWriter
    maintenance: Maintenance
