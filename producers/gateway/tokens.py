"""API tokens: who may submit what.

Each commune has its own token; it may submit and read the reports of that commune only. A
province token may read the reports of the province's communes and submit nothing. A token is
``baocao_<token id>_<secret>``: 256 random bits from :mod:`secrets`, shown once when issued.
Only its SHA-256 is stored: with that much entropy a plain hash cannot be reversed or guessed,
so a slow password hash would only cost time on every request. The token id is public (lists,
logs, metrics); revoking it takes effect on the next request, as every request looks it up.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from baocao.core.reference import Commune
from baocao.producers.gateway.exceptions import UnknownTokenError
from baocao.producers.gateway.store import GatewayStore

__all__ = [
    "IssuedToken",
    "Principal",
    "Scope",
    "TokenInfo",
    "TokenStore",
    "hash_token",
    "token_id_of",
]

logger = logging.getLogger(__name__)

TOKEN_PREFIX = "baocao"
_SECRET_BYTES = 32
_ID_BYTES = 6


class Scope(StrEnum):
    COMMUNE = "commune"
    PROVINCE = "province"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: the token (or the clerk's login) and the commune or province it stands
    for."""

    token_id: str
    scope: Scope
    code: str
    #: A clerk signed in to the commune app (a session cookie), not an API token.
    via_session: bool = False

    def may_submit(self, commune_code: str) -> bool:
        return self.scope is Scope.COMMUNE and self.code == commune_code

    def may_read(self, commune: Commune) -> bool:
        if self.scope is Scope.COMMUNE:
            return self.code == commune.code
        return self.code == commune.province_code


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token as listed: everything but the secret, which is never stored."""

    token_id: str
    scope: Scope
    code: str
    label: str
    created_at: str
    revoked_at: str | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class IssuedToken:
    info: TokenInfo
    #: The bearer token; shown to the operator once and never again.
    token: str


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", errors="surrogatepass")).hexdigest()


def token_id_of(token: str) -> str | None:
    """The id part of a well-formed token, else ``None`` (no lookup for garbage)."""
    prefix, _, rest = token.partition("_")
    token_id, _, secret = rest.partition("_")
    if prefix != TOKEN_PREFIX or len(token_id) != 2 * _ID_BYTES or not secret:
        return None
    return token_id


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class TokenStore:
    def __init__(self, store: GatewayStore) -> None:
        self._store = store

    def issue(self, *, scope: Scope, code: str, label: str = "") -> IssuedToken:
        """A new token for a commune or province (whose code the caller has checked)."""
        token_id = secrets.token_hex(_ID_BYTES)
        token = f"{TOKEN_PREFIX}_{token_id}_{secrets.token_urlsafe(_SECRET_BYTES)}"
        info = TokenInfo(
            token_id=token_id,
            scope=scope,
            code=code,
            label=label,
            created_at=_now(),
            revoked_at=None,
        )
        with self._store.transaction() as tx:
            tx.execute(
                "INSERT INTO tokens (token_id, token_hash, scope, code, label, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (token_id, hash_token(token), str(scope), code, label, info.created_at),
            )
        logger.info("issued token %s for %s %s", token_id, scope, code)
        return IssuedToken(info=info, token=token)

    def revoke(self, token_id: str) -> TokenInfo:
        """Revoke a token (revoking it again keeps the first revocation time)."""
        with self._store.transaction() as tx:
            tx.execute(
                "UPDATE tokens SET revoked_at = ? WHERE token_id = ? AND revoked_at IS NULL",
                (_now(), token_id),
            )
        info = self.get(token_id)
        if info is None:
            raise UnknownTokenError(f"no token with id {token_id!r}")
        logger.info("revoked token %s", token_id)
        return info

    def get(self, token_id: str) -> TokenInfo | None:
        row = (
            self._store.connection()
            .execute(
                "SELECT token_id, scope, code, label, created_at, revoked_at FROM tokens"
                " WHERE token_id = ?",
                (token_id,),
            )
            .fetchone()
        )
        return None if row is None else _info(row)

    def all(self) -> list[TokenInfo]:
        rows = (
            self._store.connection()
            .execute(
                "SELECT token_id, scope, code, label, created_at, revoked_at FROM tokens"
                " ORDER BY scope, code, created_at"
            )
            .fetchall()
        )
        return [_info(row) for row in rows]

    def authenticate(self, token: str) -> Principal | None:
        """The principal of an active token; ``None`` for anything else (unknown, malformed,
        revoked). The hash is compared in constant time."""
        token_id = token_id_of(token)
        if token_id is None:
            return None
        row = (
            self._store.connection()
            .execute(
                "SELECT token_hash, scope, code, revoked_at FROM tokens WHERE token_id = ?",
                (token_id,),
            )
            .fetchone()
        )
        if row is None or row["revoked_at"] is not None:
            return None
        if not hmac.compare_digest(row["token_hash"], hash_token(token)):
            return None
        return Principal(token_id=token_id, scope=Scope(row["scope"]), code=row["code"])


def _info(row: sqlite3.Row) -> TokenInfo:
    return TokenInfo(
        token_id=row["token_id"],
        scope=Scope(row["scope"]),
        code=row["code"],
        label=row["label"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )
