"""API tokens: issued once, stored as hashes, checked in constant time, revocable."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from baocao.core.reference import load_reference
from baocao.producers.gateway.exceptions import UnknownTokenError
from baocao.producers.gateway.store import GatewayStore
from baocao.producers.gateway.tokens import Principal, Scope, TokenStore, hash_token, token_id_of


@pytest.fixture
def store(tmp_path: Path) -> Iterator[TokenStore]:
    gateway_store = GatewayStore(tmp_path / "nested" / "gateway.db").open()
    yield TokenStore(gateway_store)
    gateway_store.close()


def test_an_issued_token_authenticates_as_its_commune(store: TokenStore) -> None:
    issued = store.issue(scope=Scope.COMMUNE, code="00070", label="Hoàn Kiếm")
    assert issued.token.startswith(f"baocao_{issued.info.token_id}_")
    assert len(issued.token) > 50
    assert store.authenticate(issued.token) == Principal(
        token_id=issued.info.token_id, scope=Scope.COMMUNE, code="00070"
    )


def test_only_the_hash_is_stored(store: TokenStore, tmp_path: Path) -> None:
    issued = store.issue(scope=Scope.PROVINCE, code="01")
    secret = issued.token.split("_", 2)[2]
    raw = (tmp_path / "nested" / "gateway.db").read_bytes()
    assert secret.encode() not in raw
    rows = sqlite3.connect(tmp_path / "nested" / "gateway.db").execute(
        "SELECT token_hash FROM tokens"
    )
    assert [r[0] for r in rows] == [hash_token(issued.token)]


def test_wrong_malformed_and_revoked_tokens_do_not_authenticate(store: TokenStore) -> None:
    issued = store.issue(scope=Scope.COMMUNE, code="00070")
    other = store.issue(scope=Scope.COMMUNE, code="00073")
    tampered = issued.token[:-1] + ("A" if issued.token[-1] != "A" else "B")
    # The id of one token with the secret of another.
    mixed = f"baocao_{issued.info.token_id}_{other.token.split('_', 2)[2]}"
    for bad in (tampered, mixed, "", "Bearer x", "baocao_short_x", "baocao__", "\ud800"):
        assert store.authenticate(bad) is None, bad
    info = store.revoke(issued.info.token_id)
    assert info.revoked_at is not None and not info.active
    assert store.authenticate(issued.token) is None
    assert store.authenticate(other.token) is not None
    # Revoking again keeps the first time.
    assert store.revoke(issued.info.token_id).revoked_at == info.revoked_at


def test_revoking_an_unknown_token_is_an_error(store: TokenStore) -> None:
    with pytest.raises(UnknownTokenError):
        store.revoke("000000000000")


def test_list_shows_every_token_without_secrets(store: TokenStore) -> None:
    a = store.issue(scope=Scope.COMMUNE, code="00070", label="a")
    b = store.issue(scope=Scope.PROVINCE, code="01", label="b")
    store.revoke(a.info.token_id)
    listed = {i.token_id: i for i in store.all()}
    assert set(listed) == {a.info.token_id, b.info.token_id}
    assert listed[a.info.token_id].revoked_at is not None
    assert listed[b.info.token_id].scope is Scope.PROVINCE
    assert listed[b.info.token_id].label == "b"


def test_token_id_is_read_only_from_well_formed_tokens() -> None:
    assert token_id_of("baocao_0123456789ab_secret_with_underscores") == "0123456789ab"
    assert token_id_of("baocao_0123456789ab_") is None
    assert token_id_of("other_0123456789ab_secret") is None


def test_permissions_of_commune_and_province_tokens() -> None:
    reference = load_reference()
    own, neighbour = reference.communes["00070"], reference.communes["00073"]
    elsewhere = next(c for c in reference.communes.values() if c.province_code != "01")
    commune = Principal(token_id="t", scope=Scope.COMMUNE, code="00070")
    province = Principal(token_id="p", scope=Scope.PROVINCE, code="01")
    assert commune.may_submit("00070") and not commune.may_submit("00073")
    assert commune.may_read(own) and not commune.may_read(neighbour)
    assert not province.may_submit("00070")
    assert province.may_read(own) and province.may_read(neighbour)
    assert not province.may_read(elsewhere)
