"""The composition root: the only place where concrete classes are chosen and wired."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from payam import __version__
from payam.adapters.blobs import FileBlobStore
from payam.adapters.bus import EventBus, InProcessBus, RedisBus
from payam.adapters.erasure_log import ErasureLog
from payam.adapters.push import WebPush, public_key_b64
from payam.adapters.sms import HttpSms, OutboxSms, SmsRecords, SmsSender
from payam.api import errors, openapi, web
from payam.api.access_log import AccessLogMiddleware
from payam.api.body_limit import BodyLimitMiddleware
from payam.api.fast_lane import FastLane
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
from payam.api.routes.calls import router as calls_router
from payam.api.routes.channel_stats import router as channel_stats_router
from payam.api.routes.invitations import router as invitations_router
from payam.api.routes.media import router as media_router
from payam.api.routes.privacy import router as privacy_router
from payam.api.routes.push import router as push_router
from payam.api.routing import APP_DEPENDENCIES, add_flat
from payam.config import EventBusKind, Settings, SmsBackend, vapid_private_key_pem
from payam.domain.clock import Clock, SystemClock
from payam.domain.keys import Keys
from payam.realtime import routes as realtime_routes
from payam.realtime.calls import CallRelay
from payam.realtime.collector import CollectorPolicy
from payam.realtime.gateway import Gateway
from payam.realtime.session_sweep import SessionSweeper
from payam.services.access_log import AccessLogWriter
from payam.services.admin import AdminService
from payam.services.auth import AuthService
from payam.services.calls import CallService
from payam.services.channel_stats import ChannelStatsService
from payam.services.channels import ChannelService
from payam.services.chats import ChatService
from payam.services.consents import ConsentService
from payam.services.contacts import ContactService
from payam.services.container import Services
from payam.services.erasure import ErasureService
from payam.services.export import ExportService
from payam.services.files import Files
from payam.services.invitations import InvitationService
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
from payam.services.push import PushService
from payam.services.ttl import TtlService
from payam.services.updates import UpdateLog
from payam.storage import migrate
from payam.storage.database import Database

log = logging.getLogger("payam")


def build_sms(settings: Settings, clock: Clock | None = None) -> SmsSender:
    if settings.sms_backend is SmsBackend.http:
        if not settings.sms_http_url:
            raise ValueError("PAYAM_SMS_BACKEND=http needs PAYAM_SMS_HTTP_URL")
        return HttpSms(
            settings.sms_http_url,
            settings.sms_http_body_template,
            headers=settings.sms_http_headers,
            timeout=settings.sms_http_timeout,
        )
    return OutboxSms(settings.data_dir / "sms-outbox.jsonl", clock)


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
    sms = sms or build_sms(settings, clock)
    # What the sender keeps of what it sent (the outbox), under retention and erasure (P4.3).
    sms_records = sms if isinstance(sms, SmsRecords) else None
    blobs = FileBlobStore(settings.data_dir / "blobs")
    limiter = RateLimiter(db, settings, clock, keys)
    bus = build_bus(settings)
    updates = UpdateLog(db, clock, bus)
    purge = Purger(db, delay=settings.purge_delay_seconds)
    notices = NoticeService(db, clock, updates)
    files = Files(
        db,
        blobs,
        decode_workers=settings.image_decode_workers,
        max_decode_pixels=settings.image_max_decode_pixels,
    )
    photos = PhotoService(db, settings, blobs, limiter, files)
    media = MediaService(db, settings, clock, blobs, limiter, files)
    auth = AuthService(db, settings, clock, keys, sms, limiter, bus)
    profiles = ProfileService(db, settings, clock, photos)
    invitations = InvitationService(db, settings, clock, updates, limiter)
    ttl = TtlService(db, clock, updates, purge, files)
    erasure_log = ErasureLog(settings.resolved_erasure_log_path())
    messages = MessageService(db, settings, clock, updates, purge, files=files)
    vapid_pem = vapid_private_key_pem(settings.data_dir)
    push = PushService(
        db, settings, clock, WebPush(vapid_pem, settings.push_contact), public_key_b64(vapid_pem)
    )
    updates.listeners.append(push.on_updates)
    calls = CallService(db, settings, clock, limiter, bus, messages)
    calls.on_ring = push.on_ring
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
        maintenance=Maintenance(db, settings, clock, limiter, media, ttl, erasure_log, sms_records),
        sms=sms,
        bus=bus,
        updates=updates,
        purge=purge,
        chats=ChatService(db, settings, clock, updates, purge, photos, invitations),
        invitations=invitations,
        channels=ChannelService(db, settings, clock, updates, limiter),
        messages=messages,
        media=media,
        ttl=ttl,
        channel_stats=ChannelStatsService(db, settings, clock, keys),
        consents=ConsentService(db, clock),
        notices=notices,
        policy=PolicyService(db, clock, notices),
        partners=PartnerService(db, settings, clock, notices),
        promotions=PromotionService(db, clock, notices),
        export=ExportService(db, clock, blobs, settings.data_dir / "exports"),
        erasure=ErasureService(
            db, settings, clock, auth, profiles, updates, purge, erasure_log, sms_records
        ),
        admin=AdminService(db, settings, clock, keys, bus),
        calls=calls,
        push=push,
    )


def listen(services: Services, gateway: Gateway, sweeper: SessionSweeper) -> None:
    """What this process does with what the event bus brings."""

    def session_end(user_id: int, device_id: int | None, reason: str) -> None:
        # Ended in some process: no request here honours it, and its sockets here close.
        services.auth.sessions.clear()
        gateway.on_session_end(user_id, device_id, reason)

    def resync() -> None:
        # Session ends may have been lost with the wake-ups (services/session_cache.py).
        services.auth.sessions.clear()
        sweeper.wake()
        gateway.on_resync()

    services.bus.subscribe(
        gateway.on_updates,
        gateway.on_ephemeral,
        resync,
        gateway.on_channel,
        on_session_end=session_end,
    )
    # Long polls (GET /v1/updates?timeout=S) are woken by the same bus.
    services.bus.subscribe(
        services.updates.on_updates, services.updates.on_ephemeral, services.updates.on_resync
    )


def _call_relay(services: Services) -> CallRelay:
    """The sockets' side of calls; Web Push asks it which devices are connected."""
    relay = CallRelay(services.calls, services.bus)
    services.push.presence = relay.connected_devices
    return relay


def include_routes(app: FastAPI) -> None:
    """Every door of the HTTP API and the WebSocket, in the order the document lists them.

    The API's routes go flat onto the app's router (``api/routing.py`` says why); the
    WebSocket's router is included as a branch, last but for the doors after it, since the
    realtime layer does not build its router with the API's helper."""
    add_flat(
        app,
        [
            module.router
            for module in (
                system,
                auth,
                profiles,
                contacts,
                chats,
                channels,
                messages,
                consents,
                notices,
            )
        ],
    )
    app.include_router(realtime_routes.router)
    add_flat(
        app,
        [
            privacy_router,
            admin_router,
            media_router,
            channel_stats_router,
            invitations_router,
            calls_router,
            push_router,
        ],
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
    call_relay = _call_relay(services)
    gateway = Gateway(
        services.updates,
        services.messages,
        services.chats,
        services.bus,
        buffer_limit=settings.ws_buffer_limit,
        calls=call_relay,
        collector=CollectorPolicy(),
    )

    sweeper = SessionSweeper(
        gateway, services.auth.ended_sessions, settings.ws_session_check_seconds
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if not settings.rate_limits_enabled:
            log.warning(
                "!!! PAYAM_RATE_LIMITS=off: every rate limit is DISABLED. Use this only for load "
                "tests and benchmarks, never on a server that real people can reach. !!!"
            )
        await migrate.upgrade(services.db)
        listen(services, gateway, sweeper)
        call_relay.start()
        services.calls.start()
        await services.bus.start()
        sweeper.start()
        services.access_log.start()
        services.consents.start()
        services.messages.start()
        services.push.start(interval=1.0 if background_jobs else 0)
        if background_jobs:
            services.maintenance.start()
        try:
            yield
        finally:
            await services.maintenance.stop()
            await sweeper.stop()
            await gateway.stop()
            await services.calls.stop()
            await call_relay.stop()
            await services.push.stop()
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
        # The same list the API's routers carry (api/routing.py): one place says it.
        dependencies=APP_DEPENDENCIES,
    )
    app.state.services = services
    app.state.gateway = gateway
    app.state.session_sweeper = sweeper
    errors.install(app)
    openapi.install(app, settings)
    include_routes(app)
    web.mount(app)  # the web client at /, for whatever no API route matched
    # Innermost: the hottest routes without FastAPI's per-request machinery (api/fast_lane.py).
    app.add_middleware(FastLane, owner=app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.json_body_max_bytes)
    app.add_middleware(AccessLogMiddleware, writer=services.access_log, clock=services.clock)
    return app
