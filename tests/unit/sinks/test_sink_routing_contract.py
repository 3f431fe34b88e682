"""The sink's routing follows the topic contract (:mod:`baocao.core.topics`): a route for every
topic the sinks read, none for the others, and a reader for every schema each one accepts."""

from __future__ import annotations

import json

import fastavro
import pytest

from baocao.core import topics as contract
from baocao.core.avro import schema_fingerprint
from baocao.core.settings import DeadlineSettings
from baocao.schemas import avro_schema_path
from baocao.sinks.clickhouse.rows import routes_for

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
