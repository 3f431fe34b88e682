"""The read model's pure parts: the commune status words and the scope every read passes."""

from __future__ import annotations

import pytest

from baocao.app.views.exceptions import OutOfScopeError
from baocao.app.views.reader import Views
from baocao.app.views.scope import EVERYTHING, Scope
from baocao.app.views.status import commune_status
from baocao.core.settings import ClickHouseSettings


def test_commune_status_words() -> None:
    assert commune_status(reported=True, on_time=1, rejected=True) == "on_time"
    assert commune_status(reported=True, on_time=0, rejected=False) == "late"
    assert commune_status(reported=True, on_time=None, rejected=False) == "reported"
    assert commune_status(reported=False, on_time=None, rejected=True) == "rejected"
    assert commune_status(reported=False, on_time=None, rejected=False) == "missing"


def test_the_national_scope_admits_every_province_and_the_nation() -> None:
    for province in (None, "01", "79"):
        EVERYTHING.admit(province)


def test_a_province_scope_admits_its_province_and_the_national_figures_only() -> None:
    hanoi = Scope.of_province("01")
    hanoi.admit("01")
    hanoi.admit(None)  # issue 19: the national figures stay visible to every officer
    with pytest.raises(OutOfScopeError, match="province 79"):
        hanoi.admit("79")
    assert not hanoi.everything and EVERYTHING.everything


def test_a_read_out_of_scope_is_refused_before_any_connection() -> None:
    # Port 1 refuses connections: reaching it would raise ViewQueryError, not OutOfScopeError.
    closed = ClickHouseSettings(port=1)
    views = Views(closed, scope=Scope(frozenset({"01"})))
    with pytest.raises(OutOfScopeError), views.read(province="79"):
        pass
