"""Signing in: the limits, the password check off the event loop, then a new session."""

from __future__ import annotations

import math
from dataclasses import dataclass

from baocao.core.logins.limits import SignInLimiter
from baocao.core.logins.passwords import PasswordHasher
from baocao.core.logins.store import LoginStore, Session

__all__ = ["SignIn", "SignInOutcome"]


@dataclass(frozen=True, slots=True)
class SignInOutcome:
    """A session, or why not: ``retry_after`` seconds when the attempt was not even tried
    (too fast), else a wrong name or password (never told apart)."""

    session: Session | None = None
    retry_after: int = 0


class SignIn:
    def __init__(
        self,
        store: LoginStore,
        *,
        realm: str,
        hasher: PasswordHasher,
        limiter: SignInLimiter,
        session_seconds: float,
    ) -> None:
        self.store = store
        self._realm = realm
        self._hasher = hasher
        self._limiter = limiter
        self._session_seconds = session_seconds

    async def sign_in(self, login_id: str, password: str, *, address: str) -> SignInOutcome:
        account = login_id.strip().lower()
        wait = self._limiter.check(account, address)
        if wait > 0:
            return SignInOutcome(retry_after=max(1, math.ceil(wait)))
        held = self.store.password_hash(account)
        if held is not None and held[0].realm != self._realm:
            held = None  # an officer's login does not open the commune app, nor the reverse
        stored = held[1] if held is not None else None
        if not await self._hasher.verify_async(stored, password) or held is None:
            self._limiter.failed(account, address)
            return SignInOutcome()
        self._limiter.succeeded(account, address)
        login, stored_hash = held
        if self._hasher.needs_rehash(stored_hash):
            self.store.rehash(login.login_id, self._hasher.hash(password))
        return SignInOutcome(session=self.store.open_session(login, lifetime=self._session_seconds))

    def session(self, token: str) -> Session | None:
        found = self.store.session(token)
        return found if found is not None and found.login.realm == self._realm else None

    def sign_out(self, token: str) -> None:
        self.store.end_session(token)
