"""Sign-in by mobile number and one-time code, sessions and devices (P1.1, P1.2, P1.4, P4.1).

Invariants:
- a code is 6 digits from ``secrets``, stored only as ``HMAC(secret, number hash, code)``, lives
  ``code_ttl_seconds``, is used at most once and allows ``code_max_attempts`` guesses;
- codes to one number follow growing waits; codes and guesses from one address are budgeted;
- no answer of ``request_code`` or of a failed ``sign_in`` says whether the number is registered;
- a bearer token is only ever stored as its SHA-256; signing out deletes the device row, and
  the token stops working at once (the session cache of this process forgets it on commit).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from sqlalchemy.ext.asyncio import AsyncConnection

from payam.adapters.bus import EventBus
from payam.adapters.sms import SmsError, SmsSender
from payam.config import Settings
from payam.domain.clock import Clock
from payam.domain.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PayamError,
    RateLimited,
    Unauthenticated,
)
from payam.domain.events import iso
from payam.domain.keys import Keys, new_code, new_token, parse_code, same_digest, token_hash
from payam.domain.limits import CODE_SEND_WINDOW_RESET, Limit, code_resend_wait
from payam.domain.models import Caller, Device, User
from payam.domain.phone import normalize_phone
from payam.services.limiter import RateLimiter
from payam.services.profiles import check_name
from payam.services.session_cache import (
    ACCOUNT_SUSPENDED,
    SESSION_CHANGES,
    SESSION_ENDED,
    KnownSession,
    SessionCache,
)
from payam.storage import account_state, codes, devices, users
from payam.storage.codes import CodeRow
from payam.storage.database import Database

log = logging.getLogger(__name__)

SIGN_IN_SMS = "Your payam code is {code}. Do not share it with anyone."
PHONE_CHANGE_SMS = (
    "Your payam code to move an account to this number is {code}. If you did not ask for "
    "it, ignore this message. Do not share it with anyone."
)


# Device ids per query when open sockets are checked against the database.
_SESSION_CHECK_CHUNK = 500


def _suspended() -> Forbidden:
    return Forbidden("This account is suspended by the operator.", code="account_suspended")


class SmsUnavailable(PayamError):
    """The SMS backend did not take the message (the API answers 503)."""

    default_code = "sms_unavailable"


@dataclass(frozen=True, slots=True)
class CodeSent:
    expires_at: float
    next_code_at: float


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    model: str
    os: str
    app_version: str


@dataclass(frozen=True, slots=True)
class Session:
    token: str
    user: User
    device: Device
    created_account: bool


class AuthService:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        clock: Clock,
        keys: Keys,
        sms: SmsSender,
        limiter: RateLimiter,
        bus: EventBus,
    ) -> None:
        self.db = db
        self.bus = bus
        self.settings = settings
        self.clock = clock
        self.keys = keys
        self.sms = sms
        self.limiter = limiter
        self.sessions = SessionCache(clock)
        db.after_commit_of(SESSION_CHANGES, self.sessions.clear)

    def _resend_wait(self, sends_in_window: int) -> int:
        if not self.settings.rate_limits_enabled:
            return 0
        return code_resend_wait(sends_in_window, self.settings.code_resend_waits)

    def _too_soon(self, wait: float) -> RateLimited:
        return RateLimited(
            "A code was sent to this number a moment ago; wait before asking again.",
            retry_after=wait,
            code="code_resend_too_soon",
        )

    async def request_code(self, raw_phone: str, *, ip: str | None) -> CodeSent:
        """Send a fresh code to the number (P1.2). Same answer for registered or not.

        A number in its erasure cool-down with no account could not sign in with the code
        (``number_cooling_down``): it is texted nothing, and the answer is the same as for any
        other number, so the caller, who need not hold the number, learns nothing about it."""

        async def deliverable(conn: AsyncConnection, phone_hash: bytes, now: float) -> bool:
            if await users.get_by_phone_hash(conn, phone_hash) is not None:
                return True
            return await account_state.cooldown_until(conn, phone_hash, now=now) is None

        return await self._issue_code(raw_phone, ip=ip, deliverable=deliverable, text=SIGN_IN_SMS)

    async def request_phone_change_code(
        self, caller: Caller, raw_phone: str, *, ip: str | None
    ) -> CodeSent:
        """Text a code to the number the caller wants to move their account to (P11.2), with
        the limits of ``request_code``. A number that has another account, or is in its
        erasure cool-down, could not be confirmed: it is texted nothing (its holder is not
        bothered with a code they did not ask for) and the answer is the same as for a free
        number, so the caller cannot use this to learn who is registered (P1.5, P2.3)."""

        async def deliverable(conn: AsyncConnection, phone_hash: bytes, now: float) -> bool:
            holder = await users.get_by_phone_hash(conn, phone_hash)
            if holder is not None:
                return holder.id == caller.user_id
            return await account_state.cooldown_until(conn, phone_hash, now=now) is None

        return await self._issue_code(
            raw_phone, ip=ip, deliverable=deliverable, text=PHONE_CHANGE_SMS
        )

    async def _issue_code(
        self,
        raw_phone: str,
        *,
        ip: str | None,
        deliverable: Callable[[AsyncConnection, bytes, float], Awaitable[bool]],
        text: str,
    ) -> CodeSent:
        """One code request: limits spent, the code row written, the SMS sent, in that order.
        When ``deliverable`` says the code could not be used, no code is made and nothing is
        sent (a guess is ``invalid_code``, as for a wrong one); limits, waits and the answer
        are those of a sent code."""
        phone = normalize_phone(raw_phone, self.settings.default_region)
        phone_hash = self.keys.phone_hash(phone)
        ip_subject = f"ip:{ip}"
        code = new_code()
        now = self.clock.now()
        async with self.db.write() as conn:
            # Spent in this transaction, so a send refused below costs the address nothing.
            await self.limiter.spend(
                Limit.auth_code_per_ip,
                ip_subject,
                conn=conn,
                code="too_many_code_requests",
                message="Too many codes were asked for from this address; try again later.",
            )
            previous = await codes.get(conn, phone_hash, lock=True)
            sends = 0
            if previous is not None and now - previous.last_sent_at < CODE_SEND_WINDOW_RESET:
                sends = previous.sends_in_window
                ready_at = previous.last_sent_at + self._resend_wait(sends)
                if now < ready_at:
                    raise self._too_soon(ready_at - now)
            row = CodeRow(
                phone_hash=phone_hash,
                code_hash=self.keys.code_hash(phone_hash, code),
                expires_at=now + self.settings.code_ttl_seconds,
                attempts=0,
                sends_in_window=sends + 1,
                last_sent_at=now,
            )
            deliver = await deliverable(conn, phone_hash, now)
            if not deliver:
                # No new code: the number's holder keeps the one they may have asked for, and
                # the waits move on as for a sent code, so the next answer looks the same.
                kept = previous or CodeRow(phone_hash, None, now, 0, 0, now)
                row = replace(kept, sends_in_window=sends + 1, last_sent_at=now)
            if previous is not None:
                await codes.replace(conn, row)
            elif not await codes.insert(conn, row):
                # A concurrent request for the same number created the row and sent a code.
                raise self._too_soon(self._resend_wait(1))
        try:
            if deliver:
                await self.sms.send(phone, text.format(code=code))
        except SmsError as exc:
            log.warning("SMS backend refused a sign-in code: %s", exc)
            # Undo, so neither the number nor the address is throttled for a code that never
            # left (and an earlier code that did leave keeps working).
            async with self.db.write() as conn:
                if previous is None:
                    await codes.remove(conn, phone_hash)
                else:
                    await codes.replace(conn, previous)
                await self.limiter.refund(Limit.auth_code_per_ip, ip_subject, conn=conn)
            raise SmsUnavailable("The code could not be sent; try again shortly.") from exc
        return CodeSent(
            expires_at=now + self.settings.code_ttl_seconds,
            next_code_at=now + self._resend_wait(row.sends_in_window),
        )

    def _invalid_code(self) -> InvalidInput:
        # One message for every case, so a guesser learns nothing about the number's codes.
        return InvalidInput("The code is wrong or was already used.", code="invalid_code")

    def _burned(self, row: CodeRow, now: float) -> RateLimited:
        wait = row.last_sent_at + self._resend_wait(row.sends_in_window) - now
        return RateLimited(
            "Too many wrong codes; this code no longer works. Ask for a new one.",
            retry_after=max(1.0, wait),
            code="too_many_attempts",
        )

    async def _check_code(
        self, conn: AsyncConnection, phone_hash: bytes, digits: str
    ) -> CodeRow | PayamError:
        """The code row if ``digits`` is the live code of the number, else the error to raise
        once this transaction committed (a wrong guess is counted, and may burn the code)."""
        now = self.clock.now()
        # Locked: of two requests carrying the same code, the second sees it spent.
        row = await codes.get(conn, phone_hash, lock=True)
        if row is None:
            return self._invalid_code()
        if row.code_hash is None:
            if row.attempts >= self.settings.code_max_attempts:
                return self._burned(row, now)
            return self._invalid_code()
        if now >= row.expires_at:
            return InvalidInput("The code has expired; ask for a new one.", code="code_expired")
        if not same_digest(row.code_hash, self.keys.code_hash(phone_hash, digits)):
            attempts = row.attempts + 1
            burned = attempts >= self.settings.code_max_attempts
            await codes.replace(
                conn,
                CodeRow(
                    phone_hash,
                    None if burned else row.code_hash,
                    row.expires_at,
                    attempts,
                    row.sends_in_window,
                    row.last_sent_at,
                ),
            )
            return self._burned(row, now) if burned else self._invalid_code()
        return row

    @staticmethod
    async def _spend_code(conn: AsyncConnection, row: CodeRow) -> None:
        await codes.replace(
            conn,
            CodeRow(
                row.phone_hash,
                None,
                row.expires_at,
                row.attempts,
                row.sends_in_window,
                row.last_sent_at,
            ),
        )

    async def verify_code(self, raw_phone: str, code: str, *, ip: str | None) -> str:
        """Check and use up a code sent to ``raw_phone`` (same limits as sign-in, P1.2), for the
        flows that must prove control of a number again: a number change (P11.2) and erasure
        (P11.3). Returns the number in E.164."""
        phone = normalize_phone(raw_phone, self.settings.default_region)
        digits = parse_code(code)
        if digits is None:
            raise InvalidInput("A code is 6 digits.", code="invalid_code")
        await self.limiter.spend(
            Limit.auth_verify_per_ip,
            f"ip:{ip}",
            code="too_many_attempts",
            message="Too many code attempts from this address; try again later.",
        )
        async with self.db.write() as conn:
            checked = await self._check_code(conn, self.keys.phone_hash(phone), digits)
            if not isinstance(checked, PayamError):
                await self._spend_code(conn, checked)
                return phone
        raise checked

    def phone_hash(self, phone: str) -> bytes:
        return self.keys.phone_hash(phone)

    async def sign_in(
        self, raw_phone: str, code: str, *, name: str | None, device: DeviceInfo, ip: str | None
    ) -> Session:
        """Check the code and open a session on a new device, creating the account on first
        sign-in (P1.3). A known number on a new device is the account transfer (P1.4)."""
        phone = normalize_phone(raw_phone, self.settings.default_region)
        digits = parse_code(code)
        if digits is None:
            raise InvalidInput("A code is 6 digits.", code="invalid_code")
        if name is not None:
            name = check_name(name, self.settings.name_max_length)
        await self.limiter.spend(
            Limit.auth_verify_per_ip,
            f"ip:{ip}",
            code="too_many_attempts",
            message="Too many sign-in attempts from this address; try again later.",
        )
        phone_hash = self.keys.phone_hash(phone)
        failure: PayamError | None = None
        async with self.db.write() as conn:
            checked = await self._check_code(conn, phone_hash, digits)
            if isinstance(checked, PayamError):
                failure = checked
            else:
                session = await self._open_session(
                    conn, checked, phone, phone_hash, name, device, ip
                )
                if session is not None:
                    return session
                failure = InvalidInput(
                    "This number has no account yet; send a name to create it.",
                    code="name_required",
                )
        # Raised after the commit: a wrong guess must be counted, not rolled back.
        raise failure

    async def _open_session(
        self,
        conn: AsyncConnection,
        row: CodeRow,
        phone: str,
        phone_hash: bytes,
        name: str | None,
        device: DeviceInfo,
        ip: str | None,
    ) -> Session | None:
        now = self.clock.now()
        user = await users.get_by_phone_hash(conn, phone_hash)
        created = False
        if user is None:
            until = await account_state.cooldown_until(conn, phone_hash, now=now)
            if until is not None:
                # P11.3: what erasure keeps (the number's keyed hash) and why: no new account
                # with a just-deleted number until the cool-down ends.
                raise Forbidden(
                    "An account with this number was deleted recently; it can be registered "
                    f"again after {iso(until)}.",
                    code="number_cooling_down",
                    details={"until": iso(until)},
                )
            if name is None:
                # The code stays valid: the client asks for the name and sends it again.
                return None
            user = await users.create(conn, phone=phone, phone_hash=phone_hash, name=name, now=now)
            created = True
        elif await account_state.is_suspended(conn, user.id):
            raise _suspended()
        await self._spend_code(conn, row)
        token = new_token()
        new_device = await devices.create(
            conn,
            user_id=user.id,
            token_hash=token_hash(token),
            model=device.model,
            os=device.os,
            app_version=device.app_version,
            ip=ip,
            now=now,
        )
        return Session(token=token, user=user, device=new_device, created_account=created)

    async def change_phone(
        self, caller: Caller, raw_phone: str, code: str, *, ip: str | None
    ) -> User:
        """Correct the account's number (P11.2, P1.1), proven by a code sent to the new number
        (``request_code``, with its usual limits). Contacts holding the old number no longer
        match the account; holders of the new one now do (matching is by the number's hash).
        A number that has an account, or is in its erasure cool-down, is a 409."""
        phone = await self.verify_code(raw_phone, code, ip=ip)
        phone_hash = self.keys.phone_hash(phone)
        now = self.clock.now()
        async with self.db.write() as conn:
            holder = await users.get_by_phone_hash(conn, phone_hash)
            if holder is None and await account_state.cooldown_until(conn, phone_hash, now=now):
                raise Conflict(
                    "This number belonged to an account deleted recently.",
                    code="number_cooling_down",
                )
            if holder is not None and holder.id != caller.user_id:
                raise Conflict("This number already has an account.", code="phone_taken")
            if holder is None and not await account_state.set_phone(
                conn, caller.user_id, phone=phone, phone_hash=phone_hash, now=now
            ):
                raise NotFound("The account no longer exists.", code="user_not_found")
            user = await users.get(conn, caller.user_id)
        if user is None:
            raise NotFound("The account no longer exists.", code="user_not_found")
        return user

    async def authenticate(self, token: str, *, ip: str | None) -> Caller:
        """The caller behind a bearer token, or ``Unauthenticated`` (P9.1). A session looked up
        in the last few seconds is not read again (``SessionCache``)."""
        if not token or len(token) > 256:
            raise Unauthenticated("Sign in first.", code="invalid_token")
        digest = token_hash(token)
        known = self.sessions.get(digest)
        if known is None:
            generation = self.sessions.generation
            async with self.db.read(quick=True) as conn:  # two lookups by key
                device = await devices.by_token_hash(conn, digest)
                suspended = device is not None and await account_state.is_suspended(
                    conn, device.user_id
                )
            if device is None:
                raise Unauthenticated(
                    "The session is unknown or was signed out.", code="invalid_token"
                )
            if suspended:
                raise _suspended()
            known = KnownSession(
                Caller(user_id=device.user_id, device_id=device.id),
                device.last_active_at,
                device.last_ip,
                looked_up_at=self.clock.now(),
            )
            self.sessions.put(digest, known, generation=generation)
        now = self.clock.now()
        # Last-active is coarse on purpose: one write a minute per device, not one per request.
        if (
            now - known.last_active_at >= self.settings.device_touch_interval_seconds
            or known.last_ip != ip
        ):
            async with self.db.write() as conn:
                await devices.touch(conn, known.caller.device_id, ip=ip, now=now)
            known.last_active_at, known.last_ip = now, ip
        return known.caller

    async def list_devices(self, caller: Caller) -> list[Device]:
        async with self.db.read() as conn:
            return await devices.list_for_user(conn, caller.user_id)

    async def sign_out_device(self, caller: Caller, device_id: int) -> None:
        """End one of the caller's sessions (P1.4). Another user's device id is NotFound. The
        commit clears the session cache, so the token is refused from the next request on."""
        async with self.db.write() as conn:
            if not await devices.delete_for_user(conn, user_id=caller.user_id, device_id=device_id):
                raise NotFound("No such device.", code="device_not_found")
        await self.sessions_ended(caller.user_id, device_id)

    async def ended_sessions(self, device_ids: list[int]) -> dict[int, str]:
        """Which of these devices' sessions ended, and why (``session_ended`` for a device that
        is gone, ``account_suspended``): what a process that may have missed a session end on
        the bus checks its open sockets against."""
        found: dict[int, bool] = {}
        async with self.db.read() as conn:
            for start in range(0, len(device_ids), _SESSION_CHECK_CHUNK):
                chunk = device_ids[start : start + _SESSION_CHECK_CHUNK]
                found.update(await devices.suspended_of(conn, chunk))
        ended = {d: SESSION_ENDED for d in device_ids if d not in found}
        ended.update({d: ACCOUNT_SUSPENDED for d, suspended in found.items() if suspended})
        return ended

    async def sessions_ended(
        self, user_id: int, device_id: int | None = None, reason: str = SESSION_ENDED
    ) -> None:
        """After the commit that ended them: the sessions' sockets close and every process
        forgets them (P1.4, P9.1). ``device_id`` None: every device of the user."""
        await self.bus.publish_session_end(user_id, device_id, reason)
