"""People's sign-in for the console: user names, argon2id passwords and server-side sessions.

Bearer credentials (``hct_...``) stay for machines. A person signs in with a
user name and a password that an admin set; the first sign-in after that asks
for a new password before anything else. A session lives in the store (so
every instance sees it, and ending it takes effect at once); the browser holds
only a random token in a cookie, the store only that token's hash. Failed
sign-ins are throttled with the same store counters as bearer credentials.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, ParamSpec, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from .breaker import writes_together
from .service import IssuingService, ServiceError
from .store import Account, AuditEvent, Conflict, Operator, Session

__all__ = [
    "ABSOLUTE_SECONDS",
    "IDLE_SECONDS",
    "Accounts",
    "SignedIn",
    "check_password_rules",
]

#: A session ends after this long without a request...
IDLE_SECONDS = 30 * 60
#: ...and in any case this long after sign-in.
ABSOLUTE_SECONDS = 12 * 3600
#: ``last_seen`` is written at most this often (seconds), not on every request.
_TOUCH_EVERY = 30
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,31}$")
MIN_PASSWORD = 10
MAX_PASSWORD = 128

# argon2id with the library's defaults (RFC 9106 low-memory profile: t=3, m=64 MiB, p=4).
_hasher = PasswordHasher()
# Verified against when the user name is unknown, so both answers take the same time.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def _ts(now: dt.datetime) -> int:
    return int(now.timestamp())


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_password_rules(password: str, *, username: str = "") -> str | None:
    """Return the error code of a password that does not meet the rules, or ``None``."""
    if len(password) < MIN_PASSWORD:
        return "password_too_short"
    if len(password) > MAX_PASSWORD:
        return "password_too_long"
    if username and username.lower() in password.lower():
        return "password_contains_username"
    return None


def _password_error(code: str) -> ServiceError:
    messages = {
        "password_too_short": f"a password has at least {MIN_PASSWORD} characters",
        "password_too_long": f"a password has at most {MAX_PASSWORD} characters",
        "password_contains_username": "a password must not contain the user name",
    }
    return ServiceError(code, messages[code], 422, [{"field": "password", "code": code, "message": messages[code]}])


@dataclass(frozen=True)
class SignedIn:
    """A live session and whose it is."""

    session: Session
    operator: Operator
    account: Account


P = ParamSpec("P")
R = TypeVar("R")


def _several_writes(method: Callable[P, R]) -> Callable[P, R]:
    """Run a method that writes more than once as one operation (app.breaker.writes_together)."""

    @functools.wraps(method)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with writes_together():
            return method(*args, **kwargs)

    return run


class Accounts:
    """Accounts and sessions over the issuing service's store."""

    def __init__(self, service: IssuingService) -> None:
        self.service = service
        self.store = service.store

    # -- accounts ---------------------------------------------------------------------
    @_several_writes
    def create(
        self,
        authority: str,
        username: str,
        role: str,
        *,
        password: str | None,
        actor: str,
        now: dt.datetime,
    ) -> tuple[Operator, str]:
        """Make an operator with a sign-in; return it and its first password (generated when not given).

        The person must change the password at first sign-in. Raises
        :class:`ServiceError` ``invalid_username`` (422), ``username_taken``
        (409), a password rule code (422) or what operator creation raises.
        """
        username = username.strip().lower()
        if not _USERNAME.match(username):
            raise ServiceError(
                "invalid_username",
                "a user name is 3 to 32 characters: lower-case letters, digits, '.', '_' or '-'",
                422,
                [{"field": "username", "code": "invalid_username", "message": "3-32 of a-z 0-9 . _ -"}],
            )
        if role not in ("operator", "authority_admin"):
            raise ServiceError("invalid_role", "a person's account is an operator or an authority_admin", 422)
        if self.store.account_by_username(username) is not None:
            raise ServiceError("username_taken", f"user name {username} is taken", 409)
        password = password or _generated_password()
        problem = check_password_rules(password, username=username)
        if problem:
            raise _password_error(problem)
        operator, _credential = self.service.create_operator(authority, username, role, actor=actor, now=now)
        # The operator's bearer credential is never shown: this operator is a person, who signs in.
        self._store_password(operator, username, password, must_change=True, actor=actor, now=now, action="create")
        return operator, password

    @_several_writes
    def reset_password(
        self, op_id: str, *, authority: str | None, password: str | None, actor: str, now: dt.datetime
    ) -> str:
        """Set a new password (to be changed at next sign-in), end the person's sessions; return the password."""
        operator = self.service.operator(op_id, authority=authority)
        account = self.store.account_of(operator.id)
        if account is None:
            raise ServiceError("account_not_found", f"operator {op_id} has no sign-in", 404)
        password = password or _generated_password()
        problem = check_password_rules(password, username=account.username)
        if problem:
            raise _password_error(problem)
        self._store_password(
            operator, account.username, password, must_change=True, actor=actor, now=now, action="reset"
        )
        self.store.delete_sessions(operator.id)
        return password

    def change_password(self, signed_in: SignedIn, current: str, new: str, *, now: dt.datetime) -> None:
        """Change one's own password (the current one is asked again)."""
        account = signed_in.account
        if not _verify(account.password_hash, current):
            raise ServiceError(
                "wrong_password",
                "the current password is wrong",
                422,
                [{"field": "current", "code": "wrong_password", "message": "the current password is wrong"}],
            )
        problem = check_password_rules(new, username=account.username)
        if problem:
            raise _password_error(problem)
        if hmac.compare_digest(current, new):
            raise ServiceError(
                "password_unchanged",
                "the new password must differ from the current one",
                422,
                [{"field": "password", "code": "password_unchanged", "message": "choose a different password"}],
            )
        self._store_password(
            signed_in.operator,
            account.username,
            new,
            must_change=False,
            actor=signed_in.operator.id,
            now=now,
            action="change",
        )

    @_several_writes
    def set_disabled(
        self, op_id: str, disabled: bool, *, authority: str | None, actor: str, now: dt.datetime
    ) -> Operator:
        """Disable (every session ends at once) or re-enable an operator."""
        operator = self.service.set_operator_disabled(op_id, disabled, actor=actor, now=now, authority=authority)
        if disabled:
            self.store.delete_sessions(op_id)
        return operator

    def _store_password(
        self,
        operator: Operator,
        username: str,
        password: str,
        *,
        must_change: bool,
        actor: str,
        now: dt.datetime,
        action: str,
    ) -> None:
        account = Account(operator.id, username, _hasher.hash(password), must_change, _ts(now))
        event = AuditEvent(_ts(now), actor, operator.authority, f"account.password_{action}", operator.id, {})
        try:
            self.store.set_account(account, event)
        except Conflict as e:
            raise ServiceError("username_taken", str(e), 409) from e

    # -- sign-in and sessions ------------------------------------------------------------
    @_several_writes
    def sign_in(self, username: str, password: str, *, client: str, now: dt.datetime) -> tuple[str, SignedIn]:
        """Check a user name and password; return a new session's token and the session.

        Failures count against the client address and the user name in the
        store (shared by every instance); at the limit the answer is 429
        ``too_many_failed_signins`` without checking the password. Every
        sign-in and every failure is audited (the user name, never the password).
        """
        settings = self.service.settings
        ts = _ts(now)
        window = settings.signin_window
        name = username.strip().lower()[:64]
        keys = [f"client:{client[:64]}", f"user:{name}"]
        counts = self.store.failed_signins(keys, now=ts, window=window)
        if counts[0] >= settings.signin_max_per_client or counts[1] >= settings.signin_max_per_credential:
            retry = window - ts % window
            self._audit(ts, "-", None, "signin.throttled", name, {"client": client[:64]})
            raise ServiceError(
                "too_many_failed_signins",
                f"too many failed sign-ins from this client or for this user; retry in {retry} s",
                429,
                headers={"Retry-After": str(retry)},
            )
        account = self.store.account_by_username(name) if len(password) <= MAX_PASSWORD else None
        ok = _verify(account.password_hash if account else _DUMMY_HASH, password[:MAX_PASSWORD]) and account
        operator = self.store.get_operator(account.operator) if account else None
        code = "wrong_credentials"
        if ok and operator is not None and operator.disabled:
            code = "account_disabled"
        if not ok or operator is None or operator.disabled:
            self.store.record_failed_signin(keys, now=ts, window=window)
            authority = operator.authority if operator else None
            self._audit(ts, "-", authority, "signin.failure", name, {"client": client[:64], "reason": code})
            message = "this account is disabled" if code == "account_disabled" else "wrong user name or password"
            raise ServiceError(code, message, 401)
        assert account is not None  # for mypy: ok implies an account
        token = secrets.token_urlsafe(32)
        session = Session(
            id_hash=_token_hash(token),
            operator=operator.id,
            csrf=secrets.token_urlsafe(24),
            created=ts,
            last_seen=ts,
            expires=ts + ABSOLUTE_SECONDS,
        )
        self.store.add_session(session)
        self._audit(ts, operator.id, operator.authority, "signin.success", name, {"client": client[:64]})
        return token, SignedIn(session, operator, account)

    def session(self, token: str, *, now: dt.datetime) -> SignedIn | None:
        """Return the live session of a cookie token, or ``None`` (unknown, idle, expired or disabled)."""
        if not token or len(token) > 100:
            return None
        ts = _ts(now)
        session = self.store.get_session(_token_hash(token))
        if session is None:
            return None
        if ts >= session.expires or ts - session.last_seen >= IDLE_SECONDS:
            self.store.delete_session(session.id_hash)
            return None
        # The operator is read on every request: a disabled account is refused at once, everywhere.
        operator = self.store.get_operator(session.operator)
        account = self.store.account_of(session.operator)
        if operator is None or account is None or operator.disabled:
            self.store.delete_session(session.id_hash)
            return None
        if ts - session.last_seen >= _TOUCH_EVERY:
            self.store.touch_session(session.id_hash, ts)
            session = replace(session, last_seen=ts)
        return SignedIn(session, operator, account)

    @_several_writes
    def sign_out(self, signed_in: SignedIn, *, now: dt.datetime) -> None:
        """End a session (audited)."""
        self.store.delete_session(signed_in.session.id_hash)
        op = signed_in.operator
        self._audit(_ts(now), op.id, op.authority, "signout", signed_in.account.username, {})

    def _audit(
        self, ts: int, actor: str, authority: str | None, action: str, subject: str, detail: dict[str, Any]
    ) -> None:
        self.store.append_audit([AuditEvent(ts, actor, authority, action, subject, detail)])


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _generated_password() -> str:
    # 12 characters from an alphabet without look-alikes (0/O, 1/l/I): easy to read out and type.
    alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(12))
