"""The statements of ``rebuild swap``: table by table on 18.16, EXCHANGE on a current server."""

from __future__ import annotations

from datetime import UTC, datetime

from baocao.app.rebuild.statements import (
    backup_name,
    current_swap_statements,
    exchange_statements,
    rename_statement,
)


def test_one_rename_moves_each_live_table_out_and_the_rebuilt_one_in() -> None:
    statement = rename_statement("baocao", "baocao_new", "baocao_old", ["a", "b"])
    assert statement == (
        "RENAME TABLE `baocao`.`a` TO `baocao_old`.`a`, `baocao_new`.`a` TO `baocao`.`a`,"
        " `baocao`.`b` TO `baocao_old`.`b`, `baocao_new`.`b` TO `baocao`.`b`"
    )


def test_a_current_clickhouse_exchanges_each_pair() -> None:
    assert exchange_statements("baocao", "baocao_new", ["a"]) == [
        "EXCHANGE TABLES `baocao`.`a` AND `baocao_new`.`a`"
    ]


def test_the_backup_is_named_after_the_time() -> None:
    assert backup_name("baocao", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == (
        "baocao_before_20260102030405"
    )


def test_a_current_clickhouse_drops_the_rebuilt_views_before_renaming_it_to_the_backup() -> None:
    assert current_swap_statements("baocao", "new", "old", ["a"], ["v"]) == [
        "EXCHANGE TABLES `baocao`.`a` AND `new`.`a`",
        "DROP VIEW IF EXISTS `new`.`v`",
        "RENAME DATABASE `new` TO `old`",
    ]
