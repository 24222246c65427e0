"""The set of services a door (HTTP, WebSocket, CLI) talks to. Built only by ``payam.app``."""

from __future__ import annotations

from dataclasses import dataclass

from payam.adapters.blobs import BlobStore
from payam.adapters.bus import EventBus
from payam.adapters.sms import SmsSender
from payam.config import Settings
from payam.domain.clock import Clock
from payam.services.access_log import AccessLogWriter
from payam.services.admin import AdminService
from payam.services.auth import AuthService
from payam.services.calls import CallService
from payam.services.channel_stats import ChannelStatsService
from payam.services.channels import ChannelService
from payam.services.chats import ChatService
from payam.services.consents import ConsentService
from payam.services.contacts import ContactService
from payam.services.erasure import ErasureService
from payam.services.export import ExportService
from payam.services.invitations import InvitationService
from payam.services.limiter import RateLimiter
from payam.services.maintenance import Maintenance
from payam.services.media import MediaService
from payam.services.messages import MessageService
from payam.services.notices import NoticeService
from payam.services.partners import PartnerService
from payam.services.policy import PolicyService
from payam.services.profiles import ProfileService
from payam.services.promotions import PromotionService
from payam.services.purge import Purger
from payam.services.push import PushService
from payam.services.ttl import TtlService
from payam.services.updates import UpdateLog
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
    sms: SmsSender
    bus: EventBus
    updates: UpdateLog
    purge: Purger
    chats: ChatService
    # Who may pull whom into a chat, and invitations to groups (P3.2).
    invitations: InvitationService
    channels: ChannelService
    messages: MessageService
    # Files for messages and channel posts (P3.3, P5.3, P9.2).
    media: MediaService
    # Disappearing messages: timers and the expiry sweep (P5.3).
    ttl: TtlService
    channel_stats: ChannelStatsService
    # The privacy engine's doors to users: cookies (P6), notices (P12, P8.2, P7.2).
    consents: ConsentService
    notices: NoticeService
    policy: PolicyService
    partners: PartnerService
    promotions: PromotionService
    # The user's rights (P11) and operator access (P9).
    export: ExportService
    erasure: ErasureService
    admin: AdminService
    # One-to-one calls (P5.1 records) and Web Push without content (P8.1).
    calls: CallService
    push: PushService
