"""The sink's routing follows the topic contract (:mod:`baocao.core.topics`) and the table
declarations: a route for every topic the sinks read, none for the others, a reader for every
schema each one accepts, and a start-up error when a declaration does not cover a topic."""

from __future__ import annotations

import dataclasses
import json

import fastavro
import pytest

from baocao.core import topics as contract
from baocao.core.avro import schema_fingerprint
from baocao.core.settings import DeadlineSettings
from baocao.schemas import avro_schema_path
from baocao.sinks.clickhouse.rows.routing import routes_for
from baocao.sinks.clickhouse.rows.tables import APPROVALS, COMMUNE_REPORTS, TABLES

TOPICS = contract.Topics("p")
ROUTES = routes_for(TOPICS, deadlines=DeadlineSettings())


def _fingerprint(schema: str) -> bytes:
    document = json.loads(avro_schema_path(schema).read_text(encoding="utf-8"))
    return schema_fingerprint(fastavro.parse_schema(document))


def test_a_route_for_exactly_the_topics_the_sinks_read() -> None:
    read = {
        TOPICS.name(spec) for spec in contract.SPECS if contract.Component.SINKS in spec.readers
    }
    assert set(ROUTES) == read


@pytest.mark.parametrize(
    "spec",
    [s for s in contract.SPECS if contract.Component.SINKS in s.readers],
    ids=lambda s: s.attribute,
)
def test_every_accepted_schema_has_a_reader_and_the_writers_comes_first(
    spec: contract.TopicSpec,
) -> None:
    route = ROUTES[TOPICS.name(spec)]
    known = {fp for reader in route.readers for fp in reader.codec.known_schemas}
    assert {_fingerprint(schema) for schema in spec.accepts} <= known
    assert _fingerprint(spec.writes) in route.readers[0].codec.known_schemas


def test_each_topic_the_sinks_read_is_declared_by_exactly_one_table() -> None:
    declaring = [table.topic for table in TABLES if table.topic is not None]
    read = [s for s in contract.SPECS if contract.Component.SINKS in s.readers]
    assert sorted(s.attribute for s in declaring) == sorted(s.attribute for s in read)


def test_a_table_without_the_upgrade_its_topic_needs_fails_at_start_up() -> None:
    without = dataclasses.replace(COMMUNE_REPORTS, upgrades={})
    with pytest.raises(ValueError, match=r"commune_reports: .*missing \['commune_report'\]"):
        routes_for(TOPICS, deadlines=DeadlineSettings(), tables=(without,))
    unread = dataclasses.replace(
        APPROVALS, upgrades={"commune_report": COMMUNE_REPORTS.upgrades["commune_report"]}
    )
    with pytest.raises(ValueError, match=r"approvals: .*unread \['commune_report'\]"):
        routes_for(TOPICS, deadlines=DeadlineSettings(), tables=(*TABLES, unread))


def test_a_topic_the_sinks_read_without_a_table_fails_at_start_up() -> None:
    with pytest.raises(ValueError, match="the sinks read topic approvals, but no table"):
        routes_for(
            TOPICS, deadlines=DeadlineSettings(), tables=[t for t in TABLES if t is not APPROVALS]
        )
