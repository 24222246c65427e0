"""The composition root: the only place where concrete classes are chosen and wired."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from payam import __version__
from payam.adapters.blobs import FileBlobStore
from payam.adapters.bus import EventBus, InProcessBus, RedisBus
from payam.adapters.sms import HttpSms, OutboxSms, SmsSender
from payam.api import errors, openapi
from payam.api.access_log import AccessLogMiddleware
from payam.api.body_limit import BodyLimitMiddleware
from payam.api.input_guard import guard_input
from payam.api.routes import (
    auth,
    channels,
    chats,
    consents,
    contacts,
    messages,
    notices,
    profiles,
    system,
)
from payam.api.routes.admin import router as admin_router
from payam.api.routes.channel_stats import router as channel_stats_router
from payam.api.routes.media import router as media_router
from payam.api.routes.privacy import router as privacy_router
from payam.config import EventBusKind, Settings, SmsBackend
from payam.domain.clock import Clock, SystemClock
from payam.domain.keys import Keys
from payam.realtime import routes as realtime_routes
from payam.realtime.gateway import Gateway
from payam.services.access_log import AccessLogWriter
from payam.services.admin import AdminService
from payam.services.auth import AuthService
from payam.services.channel_stats import ChannelStatsService
from payam.services.channels import ChannelService
from payam.services.chats import ChatService
from payam.services.consents import ConsentService
from payam.services.contacts import ContactService
from payam.services.container import Services
from payam.services.erasure import ErasureService
from payam.services.export import ExportService
from payam.services.files import Files
from payam.services.limiter import RateLimiter
from payam.services.maintenance import Maintenance
from payam.services.media import MediaService
from payam.services.messages import MessageService
from payam.services.notices import NoticeService
from payam.services.partners import PartnerService
from payam.services.photos import PhotoService
from payam.services.policy import PolicyService
from payam.services.profiles import ProfileService
from payam.services.promotions import PromotionService
from payam.services.purge import Purger
from payam.services.updates import UpdateLog
from payam.storage import migrate
from payam.storage.database import Database

log = logging.getLogger("payam")


def build_sms(settings: Settings) -> SmsSender:
    if settings.sms_backend is SmsBackend.http:
        if not settings.sms_http_url:
            raise ValueError("PAYAM_SMS_BACKEND=http needs PAYAM_SMS_HTTP_URL")
        return HttpSms(
            settings.sms_http_url,
            settings.sms_http_body_template,
            headers=settings.sms_http_headers,
            timeout=settings.sms_http_timeout,
        )
    return OutboxSms(settings.data_dir / "sms-outbox.jsonl")


def build_bus(settings: Settings) -> EventBus:
    if settings.event_bus is EventBusKind.redis:
        return RedisBus(settings.redis_url, settings.redis_channel)
    return InProcessBus()


def build_services(
    settings: Settings, *, clock: Clock | None = None, sms: SmsSender | None = None
) -> Services:
    clock = clock or SystemClock()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(
        settings.resolved_database_url(),
        sqlite_synchronous=settings.sqlite_synchronous,
        schema=settings.database_schema,
    )
    keys = Keys(settings.secret())
    sms = sms or build_sms(settings)
    blobs = FileBlobStore(settings.data_dir / "blobs")
    limiter = RateLimiter(db, settings, clock, keys)
    bus = build_bus(settings)
    updates = UpdateLog(db, clock, bus)
    purge = Purger(db, delay=settings.purge_delay_seconds)
    notices = NoticeService(db, clock, updates)
    files = Files(db, blobs)
    photos = PhotoService(db, settings, blobs, limiter, files)
    media = MediaService(db, settings, clock, blobs, limiter, files)
    auth = AuthService(db, settings, clock, keys, sms, limiter)
    profiles = ProfileService(db, settings, clock, photos)
    return Services(
        settings=settings,
        clock=clock,
        db=db,
        blobs=blobs,
        limiter=limiter,
        auth=auth,
        profiles=profiles,
        contacts=ContactService(db, settings, clock, keys, limiter, sms),
        access_log=AccessLogWriter(db),
        maintenance=Maintenance(db, settings, clock, limiter, media),
        sms=sms,
        bus=bus,
        updates=updates,
        purge=purge,
        chats=ChatService(db, settings, clock, updates, purge, photos),
        channels=ChannelService(db, settings, clock, updates, limiter),
        messages=MessageService(db, settings, clock, updates, purge, files=files),
        media=media,
        channel_stats=ChannelStatsService(db, settings, clock, keys),
        consents=ConsentService(db, clock),
        notices=notices,
        policy=PolicyService(db, clock, notices),
        partners=PartnerService(db, settings, clock, notices),
        promotions=PromotionService(db, clock, notices),
        export=ExportService(db, clock, blobs),
        erasure=ErasureService(db, settings, clock, auth, profiles, updates, purge),
        admin=AdminService(db, settings, clock, keys),
    )


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    sms: SmsSender | None = None,
    background_jobs: bool = True,
) -> FastAPI:
    settings = settings or Settings()
    services = build_services(settings, clock=clock, sms=sms)
    gateway = Gateway(
        services.updates,
        services.messages,
        services.chats,
        services.bus,
        buffer_limit=settings.ws_buffer_limit,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if not settings.rate_limits_enabled:
            log.warning(
                "!!! PAYAM_RATE_LIMITS=off: every rate limit is DISABLED. Use this only for load "
                "tests and benchmarks, never on a server that real people can reach. !!!"
            )
        await migrate.upgrade(services.db)
        services.bus.subscribe(
            gateway.on_updates, gateway.on_ephemeral, gateway.on_resync, gateway.on_channel
        )
        await services.bus.start()
        services.access_log.start()
        services.consents.start()
        services.messages.start()
        if background_jobs:
            services.maintenance.start()
        try:
            yield
        finally:
            await services.maintenance.stop()
            await gateway.stop()
            await services.messages.stop()
            await services.channel_stats.stop()
            await services.purge.stop()
            await services.consents.stop()
            await services.access_log.stop()
            await services.bus.stop()
            if isinstance(services.sms, HttpSms):
                await services.sms.aclose()
            await services.db.dispose()

    app = FastAPI(
        title="payam",
        version=__version__,
        summary="A self-hostable messenger server whose privacy promises are kept by code.",
        lifespan=lifespan,
        responses=errors.RESPONSES,
        docs_url=None,  # served by openapi.install, from the package
        redoc_url=None,
        dependencies=[Depends(guard_input)],
    )
    app.state.services = services
    app.state.gateway = gateway
    errors.install(app)
    openapi.install(app, settings)
    for module in (system, auth, profiles, contacts, chats, channels, messages, consents, notices):
        app.include_router(module.router)
    app.include_router(realtime_routes.router)
    app.include_router(privacy_router)
    app.include_router(admin_router)
    app.include_router(media_router)
    app.include_router(channel_stats_router)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.json_body_max_bytes)
    app.add_middleware(AccessLogMiddleware, writer=services.access_log, clock=services.clock)
    return app
