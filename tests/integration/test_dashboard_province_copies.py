"""A national reader's province page read in the province's own database (``baocao_pNN``,
made by ``baocao bi apply``) on the real ClickHouse: the same page as from the main database,
and the main database whenever the province's cannot be read."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from clickhouse_driver import Client
from support.dashboard import HANOI, PERIOD, seed

from baocao.app.bi.access import AccessPlan
from baocao.app.bi.apply import apply_access
from baocao.app.bi.credentials import Credentials
from baocao.app.dashboard.queries import DashboardQueries
from baocao.app.views.copies import ProvinceCopies
from baocao.app.views.reader import ProvinceLogin
from baocao.core.settings import ClickHouseSettings, Settings


@pytest.fixture
def plan(test_settings: Settings, db: Client) -> Iterator[AccessPlan]:
    """Hà Nội's month seeded, then Hà Nội's own database made as ``baocao bi apply`` makes it."""
    seed(db)
    plan = AccessPlan(database=test_settings.clickhouse.database, provinces=(HANOI,))
    apply_access(test_settings.clickhouse, plan, Credentials())
    try:
        yield plan
    finally:
        for database in (plan.feed_database, plan.province_database(HANOI)):
            db.execute(f"DROP DATABASE IF EXISTS `{database}`")


@pytest.fixture
def own_database(test_settings: Settings, plan: AccessPlan) -> ProvinceLogin:
    """Province code -> the settings reading that province's own database."""

    def login(code: str) -> ClickHouseSettings:
        return test_settings.clickhouse.model_copy(
            update={"database": plan.province_database(code)}
        )

    return login


def test_the_province_page_is_the_same_read_from_the_provinces_own_database(
    test_settings: Settings, own_database: ProvinceLogin
) -> None:
    main = test_settings.clickhouse
    copies = ProvinceCopies(own_database)
    assert copies.settings_for(HANOI) == own_database(HANOI)
    asked = {"report_type": "monthly", "period": PERIOD}
    from_copy = DashboardQueries(main, province_login=own_database).province(HANOI, **asked)
    from_main = DashboardQueries(main).province(HANOI, **asked)
    assert from_copy == from_main
    assert from_main["summary"]["reported"] == 2  # the seeded month, not an empty page


def test_a_province_without_its_own_database_is_read_in_the_main_one(
    test_settings: Settings, own_database: ProvinceLogin
) -> None:
    main = test_settings.clickhouse

    def no_login(code: str) -> ClickHouseSettings:
        raise RuntimeError(f"no dashboard login of province {code}")

    # 79 has no database of its own here; a missing login is no database either.
    assert ProvinceCopies(own_database).settings_for("79") is None
    assert ProvinceCopies(no_login).settings_for(HANOI) is None
    asked = {"report_type": "monthly", "period": PERIOD}
    page = DashboardQueries(main, province_login=no_login).province(HANOI, **asked)
    assert page["summary"]["reported"] == 2
