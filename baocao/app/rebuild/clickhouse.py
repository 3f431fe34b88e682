"""``rebuild clickhouse``: migrate a new database, replay every output topic into it, then
compare it with the live database (docs/operations.md, "Rebuilding ClickHouse")."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from baocao.app.rebuild.compare import Comparison, compare_databases
from baocao.app.rebuild.exceptions import RebuildError
from baocao.app.rebuild.replay import (
    Offsets,
    Replay,
    behind,
    committed_offsets,
    end_offsets,
    replay,
    sink_topics,
)
from baocao.core.clickhouse import TRANSIENT_ERRORS, connect, describe_error
from baocao.core.settings import Settings
from baocao.sinks.clickhouse.migrate import migrate

__all__ = ["Rebuild", "compare_with_live", "rebuild_clickhouse", "rebuild_group"]

logger = logging.getLogger(__name__)

#: How many times a comparison is tried again when the topics grew while it ran.
ATTEMPTS = 3
#: How long the comparison waits for the live sink to land what the rebuild landed.
LIVE_SINK_WAIT_SECONDS = 120.0


@dataclass(frozen=True, slots=True)
class Rebuild:
    replays: tuple[Replay, ...]
    comparison: Comparison

    @property
    def seconds(self) -> float:
        return sum(r.seconds for r in self.replays)

    @property
    def records(self) -> int:
        return sum(r.records for r in self.replays)


def rebuild_group(settings: Settings, database: str) -> str:
    """The rebuild's own sink group, named after the live group and the new database: a
    second run into the same database reads on from where the first stopped."""
    return f"{settings.sink.group_id}-rebuild-{database}"


def rebuild_clickhouse(settings: Settings, *, database: str, timeout_seconds: float) -> Rebuild:
    """Migrate ``database``, replay the sink's topics into it to their end, compare it with
    the live database (``settings.clickhouse.database``)."""
    live = settings.clickhouse.database
    if database == live:
        raise RebuildError(f"the new database must not be the live one ({live})")
    migrate(settings.clickhouse.model_copy(update={"database": database}))
    group = rebuild_group(settings, database)
    replays = [replay(settings, database=database, group=group, timeout_seconds=timeout_seconds)]
    comparison, more = compare_with_live(
        settings, database=database, timeout_seconds=timeout_seconds
    )
    return Rebuild(tuple(replays + more), comparison)


def compare_with_live(
    settings: Settings, *, database: str, timeout_seconds: float, replay_first: bool = True
) -> tuple[Comparison, list[Replay]]:
    """Compare ``database`` with the live one once both have landed the same records: the
    rebuild's group replays on to the topics' current end, and the live sink's group is given
    up to ``timeout_seconds`` to commit as far. Records keep arriving while the pipeline
    runs, so a different result is checked again (up to :data:`ATTEMPTS` times) when the
    topics grew meanwhile. Without ``replay_first``, ``database`` is compared as it is."""
    live = settings.clickhouse.database
    group = rebuild_group(settings, database)
    topics = sink_topics(settings)
    replays: list[Replay] = []
    comparison: Comparison | None = None
    for _attempt in range(ATTEMPTS):
        target = end_offsets(settings, topics)
        if replay_first and behind(committed_offsets(settings, group), target):
            replays.append(
                replay(settings, database=database, group=group, timeout_seconds=timeout_seconds)
            )
        _wait_for_live_sink(settings, target, min(timeout_seconds, LIVE_SINK_WAIT_SECONDS))
        client = connect(settings.clickhouse, use_database=False)
        try:
            comparison = compare_databases(client, live, database)
        except TRANSIENT_ERRORS as exc:
            raise RebuildError(
                f"cannot compare {database} with {live}: {describe_error(exc)}"
            ) from exc
        finally:
            client.disconnect()
        if comparison.equal or end_offsets(settings, topics) == target:
            break
        logger.info("the topics grew during the comparison: comparing again")
    assert comparison is not None
    return comparison, replays


def _wait_for_live_sink(settings: Settings, target: Offsets, timeout_seconds: float) -> None:
    deadline = time.monotonic() + timeout_seconds
    while True:
        left = behind(committed_offsets(settings, settings.sink.group_id), target)
        if not left:
            return
        if time.monotonic() >= deadline:
            logger.warning(
                "the live sink (group %s) is %d records behind: the live database may lack"
                " them in the comparison",
                settings.sink.group_id,
                left,
            )
            return
        time.sleep(1.0)
