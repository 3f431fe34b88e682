"""``rebuild worker``: recompute the worker's whole state from the input topics alone.

A second worker runs with a new app id (so new changelogs and a new consumer group, which
starts at the inputs' first offsets) and writes outputs of its own
(``<topic prefix>.<app id>.*``, :meth:`~baocao.core.topics.Topics.rebuilt_by`): the live
outputs, and so ClickHouse, stay untouched. It is ``baocao worker`` itself, started as a
child process with ``BAOCAO_WORKER_APP_ID`` and ``BAOCAO_WORKER_OUTPUT_PREFIX`` set, and
stopped once its group has committed the end offsets the inputs had at the start. Then its
decisions are compared with the live worker's (:mod:`.decisions`).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from baocao.app.rebuild.decisions import DecisionComparison, compare_decisions, read_decisions
from baocao.app.rebuild.exceptions import RebuildError
from baocao.app.rebuild.replay import Offsets, behind, committed_offsets, end_offsets
from baocao.core.kafka import ensure_topics, topic_configs
from baocao.core.settings import Settings
from baocao.core.topics import Topics

__all__ = ["WorkerRebuild", "rebuild_worker"]

logger = logging.getLogger(__name__)

#: How long the comparison waits for the live worker to commit as far as the rebuild.
LIVE_WORKER_WAIT_SECONDS = 120.0


@dataclass(frozen=True, slots=True)
class WorkerRebuild:
    app_id: str
    outputs: Topics
    records: int  # input records the rebuild consumed
    seconds: float
    comparison: tuple[DecisionComparison, ...]
    log: Path

    @property
    def equal(self) -> bool:
        return all(c.equal for c in self.comparison)

    def verdict(self) -> str:
        if self.equal:
            counts = ", ".join(f"{c.rebuilt} {c.name}" for c in self.comparison)
            return f"equal: the rebuild {self.app_id} decided as the live worker ({counts})"
        wrong = [c for c in self.comparison if not c.equal]
        return f"different: {', '.join(_what(c) for c in wrong)}"

    def table(self) -> str:
        lines = [
            f"{'decision':<13} {'live':>8} {'rebuilt':>8} {'only live':>10}"
            f" {'only rebuilt':>13} {'differing':>10}"
        ]
        for c in self.comparison:
            lines.append(
                f"{c.name:<13} {c.live:>8} {c.rebuilt:>8} {c.only_live:>10} {c.only_rebuilt:>13}"
                f" {c.differing:>10}  {'ok' if c.equal else 'DIFFERENT'}"
            )
        return "\n".join(lines)


def _what(c: DecisionComparison) -> str:
    return (
        f"{c.name} ({c.only_live} only live, {c.only_rebuilt} only rebuilt,"
        f" {c.differing} differing)"
    )


def inputs(topics: Topics) -> list[str]:
    return [topics.commune_reports, topics.historic_reports, topics.approvals]


def rebuild_worker(
    settings: Settings,
    admin: Settings,
    *,
    app_id: str,
    data_dir: Path,
    timeout_seconds: float,
) -> WorkerRebuild:
    """Run the rebuild worker ``app_id`` (state in ``data_dir``) over every input record
    there is now, stop it, and compare its decisions with the live ones. ``settings`` is what
    gives the live names; the child ``baocao worker`` reads this process's environment (its
    own principal unless the environment names one). ``admin`` reads the groups and the
    topics, and creates the rebuild's outputs."""
    live_topics = Topics(settings.kafka.topic_prefix)
    if app_id == settings.worker.app_id:
        raise RebuildError(f"the rebuild needs an app id of its own, not the live {app_id}")
    outputs = live_topics.rebuilt_by(app_id)
    names = outputs.worker_outputs()
    ensure_topics(admin.kafka, names, configs={n: topic_configs(outputs, n) for n in names})
    target = end_offsets(admin, inputs(live_topics))
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir / "worker.log"
    environment = {
        **os.environ,
        "BAOCAO_WORKER_APP_ID": app_id,
        "BAOCAO_WORKER_OUTPUT_PREFIX": outputs.outputs,
        "BAOCAO_WORKER_DATA_DIR": str(data_dir / "state"),
        "BAOCAO_WORKER_WEB_PORT": "0",
    }
    started = time.monotonic()
    with log.open("ab") as out:
        child = subprocess.Popen(
            [sys.executable, "-m", "baocao", "worker"],
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    logger.info(
        "rebuild worker %s (pid %d) reading %d input records, log %s",
        app_id,
        child.pid,
        sum(target.values()),
        log,
    )
    try:
        _wait_until_committed(admin, app_id, target, child, timeout_seconds, log)
    finally:
        _stop(child)
    seconds = time.monotonic() - started
    _wait_for_live_worker(admin, target)
    live = read_decisions(admin.kafka, live_topics)
    rebuilt = read_decisions(admin.kafka, outputs)
    return WorkerRebuild(
        app_id=app_id,
        outputs=outputs,
        records=sum(target.values()),
        seconds=seconds,
        comparison=tuple(compare_decisions(live, rebuilt)),
        log=log,
    )


def _wait_until_committed(
    admin: Settings,
    group: str,
    target: Offsets,
    child: subprocess.Popen[bytes],
    timeout_seconds: float,
    log: Path,
) -> None:
    deadline = time.monotonic() + timeout_seconds
    while True:
        left = behind(committed_offsets(admin, group), target)
        if not left:
            return
        if child.poll() is not None:
            raise RebuildError(f"the rebuild worker exited with {child.returncode}; see {log}")
        if time.monotonic() >= deadline:
            raise RebuildError(
                f"the rebuild worker did not reach the inputs' end within"
                f" {timeout_seconds:.0f}s ({left} records left); see {log}"
            )
        time.sleep(1.0)


def _stop(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        child.send_signal(signal.SIGTERM)
    try:
        child.wait(timeout=60)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def _wait_for_live_worker(admin: Settings, target: Offsets) -> None:
    deadline = time.monotonic() + LIVE_WORKER_WAIT_SECONDS
    group = admin.worker.app_id
    while behind(committed_offsets(admin, group), target):
        if time.monotonic() >= deadline:
            logger.warning("the live worker (group %s) has not caught up: comparing anyway", group)
            return
        time.sleep(1.0)
