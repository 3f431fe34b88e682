"""``make chaos``: faults injected for real while reports stream in, then exact views.

On a stack of its own (three Kafka nodes, ClickHouse; ``.baocao-chaos``, ports from
``--port-base``), a worker and a sink run while a generated month streams in (revisions,
exact resends, stale and conflicting revisions, invalid reports), one chunk before each fault:

1. the worker, then the sink, SIGKILLed and restarted, again and again;
2. ClickHouse frozen (SIGSTOP) for ``--freeze-seconds``, then thawed;
3. one of the three Kafka brokers SIGKILLed, a chunk published while it is down, and the
   broker brought back (``baocao stack up``);
4. disaster: ClickHouse SIGKILLed and its data folder deleted, a chunk published while it
   is gone, the server restarted empty, and everything rebuilt from Kafka (``baocao migrate``,
   ``baocao rebuild clickhouse`` into a new database while the live sink runs, ``baocao
   rebuild swap``); the time of the recovery is printed with the row;
5. the schema registry stopped: only when the run uses one (this one does not: messages carry
   their schema's fingerprint, so there is no registry to lose);
6. ``baocao notifier`` SIGKILLed in the middle of a deadline day's batch and restarted: every
   expected overdue notice and digest arrives, at most one distinct Message-ID per key
   (``chaos/notifier.py``, an SMTP server in this process at ``--port-base`` + 130);
7. with ``--clickhouse-replicas 2`` (a run of its own, with replicas instead of the faults
   above): one of the two ClickHouse replicas SIGKILLed for ``--replica-down-seconds`` while a
   chunk streams in, then brought back; the dashboard's API (signed in as the national
   officer) is asked all along, and its longest gap between answers is printed with the row.
   The views are compared on both replicas;
8. poison records on the report topic, in three rounds: an empty value, garbage and a valid
   magic with a corrupt body; a valid report with a null key and one with a wrong key; last a
   1,000,010-byte value (the record that stopped the whole roll-up in issue 10; the topic's
   ``max.message.bytes`` may refuse it) and a 999,000-byte one the broker takes.

After each fault it measures the time from the fault's end until both the worker and the
sink have committed everything (lag 0, groups stable), then requires every row of
``province_indicators``, ``commune_indicators``, ``national_indicators``, the communes
reported in ``province_completeness`` and the report ids of ``rejected_reports`` to equal a
recomputation of everything published so far (``support.recompute``): keys, counts and
revisions exactly, values to the last 12 digits (ClickHouse sums decimals in its own order),
and a dead letter for each poison record. It prints one row per fault and exits 1 if any failed.

Usage: ``make chaos`` (full size) or ``PYTHONPATH=tests .venv/bin/python -m chaos.run --help``.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from functools import partial
from pathlib import Path

import httpx
from chaos.harness import REPO, ChaosStack, Pipeline
from chaos.notifier import kill_the_notifier
from support.cli import run, start
from support.officers import make_officers
from support.recompute import Line, mixed_input, simulated_month

from baocao.core.avro import AvroCodec, codec_for
from baocao.core.reference import load_reference

#: Last month and this month in Vietnam: periods open whatever day the suite runs.
TODAY = datetime.now(timezone(timedelta(hours=7))).date()
SECOND_PERIOD = f"{TODAY:%Y-%m}"
PERIOD = f"{TODAY.replace(day=1) - timedelta(days=1):%Y-%m}"
#: The value size that stopped the whole roll-up in issue 10.
OVERSIZED_BYTES = 1_000_010
#: Below the topics' ``max.message.bytes`` (1,000,000 by default) by the record's overhead:
#: the broker takes it, so the worker must dead-letter it within the producers' own limit.
NEAR_LIMIT_BYTES = 999_000


@dataclass
class Outcome:
    fault: str
    checked: str
    catch_up_seconds: float | None
    problems: list[str]
    note: str = ""
    #: Not applicable to this run (said so in the table), neither passed nor failed.
    not_run: bool = False

    @property
    def passed(self) -> bool:
        return self.not_run or (self.catch_up_seconds is not None and not self.problems)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos.run", description=__doc__)
    parser.add_argument("--communes", type=int, default=1200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--worker-kills", type=int, default=4)
    parser.add_argument("--sink-kills", type=int, default=4)
    parser.add_argument("--freeze-seconds", type=float, default=60.0)
    parser.add_argument("--broker-down-seconds", type=float, default=20.0)
    parser.add_argument("--catch-up-timeout", type=float, default=240.0)
    parser.add_argument(
        "--clickhouse-replicas",
        type=int,
        default=1,
        help="2: run the replica fault (and the start-up check) on two ClickHouse replicas",
    )
    parser.add_argument("--replica-down-seconds", type=float, default=60.0)
    parser.add_argument(
        "--port-base",
        type=int,
        default=25000,
        help="ClickHouse native port; Kafka +92 (nodes +102, +112), ClickHouse HTTP +123,"
        " the notifier's SMTP server +130; with replicas: replica 2 +10, ZooKeeper +81,"
        " proxy +60, the dashboard +70",
    )
    parser.add_argument("--home", type=Path, default=REPO / ".baocao-chaos")
    parser.add_argument("--keep-stack", action="store_true", help="Leave the stack running.")
    args = parser.parse_args(argv)
    # A timeout (CI's `timeout`, say) sends SIGTERM: stop the worker, the sink and the stack
    # on the way out rather than leave them running.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if os.environ.get("BAOCAO_SCHEMA_REGISTRY_URL"):
        print("chaos: BAOCAO_SCHEMA_REGISTRY_URL is set, but this suite runs without a registry")

    name = f"chaos{uuid.uuid4().hex[:8]}"
    stack = ChaosStack(
        home=args.home.absolute(),
        port_base=args.port_base,
        database=name,
        clickhouse_replicas=args.clickhouse_replicas,
    )
    logs = stack.home / "runs" / name
    logs.mkdir(parents=True, exist_ok=True)
    pipeline = Pipeline(stack=stack, name=name, logs=logs)
    outcomes: list[Outcome] = []
    started = time.monotonic()
    try:
        print(f"chaos: starting the stack in {stack.home} ({stack.bootstrap_servers})", flush=True)
        stack.up()
        outcomes = Scenario(pipeline, args).run()
    finally:
        pipeline.stop_all()
        if not args.keep_stack:
            stack.down()
    print_table(outcomes, seconds=time.monotonic() - started, logs=logs)
    return 0 if outcomes and all(outcome.passed for outcome in outcomes) else 1


class Scenario:
    """The faults in order, each after a chunk of the input, each checked on its own."""

    def __init__(self, pipeline: Pipeline, args: argparse.Namespace) -> None:
        self.pipeline = pipeline
        self.args = args
        self.rng = random.Random(args.seed)
        self.refused_ids: set[str] = set()
        self.rebuild_seconds: float | None = None

    def run(self) -> list[Outcome]:
        p, args = self.pipeline, self.args
        p.run("migrate")
        lines, refused = self.dataset()
        kills = ["worker", "sink"] * max(args.worker_kills, args.sink_kills)
        kills = [role for i, role in enumerate(kills) if i // 2 < getattr(args, f"{role}_kills")]
        chunks = split(lines, len(kills) + 4)
        self.refused_ids = {line["report_id"] for line in refused}
        publish = self.publish

        p.start("worker")
        p.start("sink")
        outcomes = [self.check("none (start-up, first chunk)", "views", lambda: publish(chunks[0]))]
        if args.clickhouse_replicas > 1:
            outcomes.append(
                self.check(
                    f"SIGKILL 1 of {args.clickhouse_replicas} ClickHouse replicas,"
                    f" back after {args.replica_down_seconds:.0f} s",
                    "views on every replica; sink alive; the dashboard's API answered throughout",
                    lambda: self.lose_a_replica(chunks[1]),
                    roles_alive=("sink",),
                )
            )
            return outcomes
        for number, role in enumerate(kills, start=1):
            chunk = chunks[number]

            def kill_and_restart(role: str = role, chunk: list[Line] = chunk) -> None:
                publish(chunk)
                time.sleep(self.rng.uniform(0.0, 0.5))  # offsets not all committed yet
                p.kill(role)
                p.start(role)

            outcomes.append(
                self.check(
                    f"SIGKILL {role} #{number}", "views; nothing lost or doubled", kill_and_restart
                )
            )
        outcomes.append(
            self.check(
                f"ClickHouse frozen (SIGSTOP) {args.freeze_seconds:.0f} s",
                "views; sink alive",
                lambda: self.freeze_clickhouse(chunks[len(kills) + 1]),
                roles_alive=("sink",),
            )
        )
        outcomes.append(
            self.check(
                f"SIGKILL 1 of 3 brokers, back after {args.broker_down_seconds:.0f} s",
                "views; publish during the outage (acks=all, 2 in sync)",
                lambda: self.lose_a_broker(chunks[len(kills) + 2]),
            )
        )
        outcomes.append(
            self.check(
                "disaster: ClickHouse's data folder deleted, server restarted",
                "views = recomputation after `rebuild clickhouse` + `rebuild swap` from Kafka",
                lambda: self.lose_clickhouse_data(chunks[len(kills) + 3]),
            )
        )
        outcomes.append(
            Outcome(
                "schema registry stopped",
                "-",
                None,
                [],
                note="no registry in this run (fingerprint framing; BAOCAO_SCHEMA_REGISTRY_URL"
                " unset)",
                not_run=True,
            )
        )
        outcomes.append(self.notifier())
        # Poison, the record that stopped everything in issue 10 last (a worker that cannot
        # pass it fails every later check too).
        for kind, checked in (
            ("undecodable", "worker alive; a dead letter each; views"),
            ("badly keyed", "worker alive; refused with a dead letter, not counted; views"),
            ("oversized", "worker alive; refused by the broker or a bounded dead letter; views"),
        ):
            records = self.poison(kind)
            outcomes.append(
                self.check(
                    f"poison: {', '.join(what for what, _, _ in records)}",
                    checked,
                    partial(self.inject, records),
                    roles_alive=("worker", "sink"),
                )
            )
        return outcomes

    def dataset(self) -> tuple[list[Line], list[Line]]:
        lines = simulated_month(
            self.pipeline.env(),
            self.pipeline.logs / "generated.jsonl",
            communes=self.args.communes,
            seed=self.args.seed,
            period=PERIOD,
        )
        return mixed_input(lines, second_period=SECOND_PERIOD)

    def check(
        self,
        fault: str,
        checked: str,
        inject: Callable[[], object],
        *,
        roles_alive: tuple[str, ...] = (),
    ) -> Outcome:
        """Inject one fault (``inject`` returns when the fault is over), then measure the
        catch-up and compare the views."""
        print(f"chaos: {fault} ...", flush=True)
        note = ""
        try:
            result = inject()
            if isinstance(result, str):
                note = result
        except Exception as exc:
            print(f"chaos: {fault}: FAILED while injecting: {exc!r}", flush=True)
            return Outcome(fault, checked, None, [f"injecting failed: {exc!r}"])
        ended = time.monotonic()
        seconds = self.pipeline.wait_caught_up(since=ended, timeout=self.args.catch_up_timeout)
        problems = (
            [] if seconds is not None else [f"lag not 0 within {self.args.catch_up_timeout:.0f} s"]
        )
        problems += [f"{role} exited" for role in roles_alive if not self.pipeline.alive(role)]
        problems += self.pipeline.wait_views_match(timeout=30 if seconds is not None else 5)
        for role in ("worker", "sink"):  # a crashed process would fail every later fault
            if not self.pipeline.alive(role):
                self.pipeline.start(role)
        outcome = Outcome(fault, checked, seconds, problems, note)
        status = "ok" if outcome.passed else "FAILED: " + "; ".join(problems)
        shown = f"{seconds:.1f} s" if seconds is not None else "-"
        print(f"chaos: {fault}: caught up in {shown}; {status}", flush=True)
        return outcome

    def notifier(self) -> Outcome:
        fault = "SIGKILL notifier mid-batch, restarted"
        checked = "every overdue notice and digest arrived; one Message-ID per key"
        print(f"chaos: {fault} ...", flush=True)
        try:
            seconds, problems, note = kill_the_notifier(
                self.pipeline,
                smtp_port=self.args.port_base + 130,
                period=PERIOD,
                timeout=self.args.catch_up_timeout,
            )
        except BaseException as exc:  # a failed wait (pytest's Failed) is an outcome too
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            return Outcome(fault, checked, None, [f"{type(exc).__name__}: {exc}"[:500]])
        outcome = Outcome(fault, checked, seconds, problems, note)
        status = "ok" if outcome.passed else "FAILED: " + "; ".join(problems)
        print(f"chaos: {fault}: all delivered {seconds:.1f} s after the restart; {status}")
        return outcome

    def freeze_clickhouse(self, chunk: list[Line]) -> None:
        pid = self.pipeline.stack.server_pid("clickhouse")
        os.kill(pid, signal.SIGSTOP)
        try:
            self.publish(chunk)
            time.sleep(self.args.freeze_seconds)
        finally:
            os.kill(pid, signal.SIGCONT)

    def lose_a_replica(self, chunk: list[Line]) -> str:
        """SIGKILL replica 1 while a chunk streams in, bring it back after
        ``--replica-down-seconds``; the dashboard (all replicas in its client settings) is
        asked for the national overview every 0.1 s throughout, its longest gap kept."""
        p, stack = self.pipeline, self.pipeline.stack
        officers = make_officers(p.logs / "officers.db")
        url = f"http://127.0.0.1:{stack.port_base + 70}"
        env = {
            **p.env(),
            "BAOCAO_DASHBOARD_DB_PATH": str(officers.database.path),
            "BAOCAO_GATEWAY_DB_PATH": str(p.logs / "gateway.db"),
        }
        dashboard = start(
            "dashboard",
            "--port",
            str(stack.port_base + 70),
            env=env,
            log_path=p.logs / "dashboard.log",
        )
        stop = threading.Event()
        gaps: list[float] = []
        failures: list[str] = []

        def read(client: httpx.Client) -> None:
            last = time.monotonic()
            while not stop.is_set():
                try:
                    answer = client.get(
                        "/api/overview", params={"report_type": "monthly", "period": PERIOD}
                    )
                    answer.raise_for_status()
                    now = time.monotonic()
                    gaps.append(now - last)
                    last = now
                except httpx.HTTPError as exc:  # a failed read is the gap measured
                    failures.append(str(exc)[:120])
                time.sleep(0.1)

        try:
            client = httpx.Client(base_url=url, timeout=10.0)
            deadline = time.monotonic() + 60
            while True:
                try:
                    login, password = officers.national
                    signed = client.post(
                        "/api/session",
                        json={"login": login, "password": password},
                        headers={"Origin": url},
                    )
                    signed.raise_for_status()
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.5)
            reader = threading.Thread(target=read, args=(client,), daemon=True)
            reader.start()
            try:
                time.sleep(1.0)
                self.publish(chunk[: len(chunk) // 2])
                os.kill(stack.server_pid("clickhouse"), signal.SIGKILL)
                lost_at = time.monotonic()
                self.publish(chunk[len(chunk) // 2 :])
                time.sleep(max(0.0, self.args.replica_down_seconds - (time.monotonic() - lost_at)))
                stack.up()
                time.sleep(2.0)
            finally:
                stop.set()
                reader.join(timeout=30)
                client.close()
        finally:
            dashboard.stop(15)
        if not gaps:
            raise RuntimeError(f"the dashboard never answered: {failures[:3]}")
        return (
            f"{len(chunk)} reports published around the kill; the dashboard's API answered"
            f" {len(gaps)} times ({len(failures)} failed), longest gap {max(gaps):.1f} s"
        )

    def lose_a_broker(self, chunk: list[Line]) -> str:
        stack = self.pipeline.stack
        os.kill(stack.server_pid("kafka-2"), signal.SIGKILL)
        lost_at = time.monotonic()
        self.publish(chunk)
        time.sleep(max(0.0, self.args.broker_down_seconds - (time.monotonic() - lost_at)))
        stack.up()
        back = time.monotonic()
        synced = self.pipeline.wait_full_isr(timeout=self.args.catch_up_timeout)
        isr = f"all replicas in sync {synced - back:.1f} s later" if synced else "ISR not full"
        return f"{len(chunk)} reports published while it was down; {isr}"

    def lose_clickhouse_data(self, chunk: list[Line]) -> str:
        """The disk dies: SIGKILL ClickHouse, delete its data folder, publish a chunk while it
        is gone, restart it (``stack up``), and recover as docs/operations.md says: migrate,
        rebuild every row from the Kafka topics into a new database while the live sink
        runs, swap it in. Returns the time the recovery took (restart to swapped)."""
        p, stack = self.pipeline, self.pipeline.stack
        pid = stack.server_pid("clickhouse")
        os.kill(pid, signal.SIGKILL)
        while Path(f"/proc/{pid}").exists():
            time.sleep(0.1)
        data = stack.home / "clickhouse" / "data"
        shutil.rmtree(data)
        self.publish(chunk)
        started = time.monotonic()
        stack.up()
        p.run("migrate")
        rebuilt = f"{p.name}_rebuilt"
        done = run("rebuild", "clickhouse", "--database", rebuilt, env=p.env(), timeout=1800)
        verdict = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
        # The live database lost every row written before the disk died: "different" (1).
        if done.returncode not in (0, 1) or not verdict.startswith(("equal", "different")):
            raise RuntimeError(f"rebuild clickhouse failed:\n{done.stdout}\n{done.stderr}")
        replayed = done.stdout.strip().splitlines()[0]
        p.run("rebuild", "swap", "--database", rebuilt, timeout=1800)
        seconds = time.monotonic() - started
        self.rebuild_seconds = seconds
        lost = verdict.split(":", 1)[0]  # "different": the restarted database had lost its rows
        return (
            f"recovered in {seconds:.1f} s (restart, migrate, rebuild, swap); the emptied live"
            f" database compared {lost}; {replayed}"
        )

    def publish(self, chunk: list[Line]) -> None:
        """Publish a chunk, telling the pipeline which of its reports must be refused."""
        self.pipeline.publish(chunk, {line["report_id"] for line in chunk} & self.refused_ids)

    def poison(self, kind: str) -> list[tuple[str, bytes | None, bytes]]:
        """The poison records of one kind: (what, key, value)."""
        codec = codec_for("commune_report.v2")
        if kind == "oversized":
            return [
                (f"{OVERSIZED_BYTES:,}-byte value", b"01", b"x" * OVERSIZED_BYTES),
                (f"{NEAR_LIMIT_BYTES:,}-byte value", b"01", b"y" * NEAR_LIMIT_BYTES),
            ]
        if kind == "undecodable":
            valid = self._report(codec, str(uuid.uuid4()), "00070", "01")
            return [
                ("empty value", b"01", b""),
                ("garbage", b"01", b"not avro \xff\xfe at all"),
                ("valid magic, corrupt body", b"01", valid[:10] + b"\xff" * 40),
            ]
        # Valid reports of two communes with no report in the run, wrongly keyed: whatever
        # the worker makes of them shows in the views.
        used = {line["commune_code"] for line in self.pipeline.published}
        spare = [
            c
            for c in sorted(load_reference().communes.values(), key=lambda c: c.code)
            if c.code not in used
        ][:2]
        null_key_id, wrong_key_id = str(uuid.uuid4()), str(uuid.uuid4())
        self.pipeline.must_refuse |= {null_key_id, wrong_key_id}
        other_province = "79" if spare[1].province_code != "79" else "01"
        return [
            (
                "null key",
                None,
                self._report(codec, null_key_id, spare[0].code, spare[0].province_code),
            ),
            (
                "wrong key",
                other_province.encode(),
                self._report(codec, wrong_key_id, spare[1].code, spare[1].province_code),
            ),
        ]

    def inject(self, records: list[tuple[str, bytes | None, bytes]]) -> str:
        refused = self.pipeline.send_raw(records)
        return f"refused by the broker: {', '.join(refused)}" if refused else ""

    @staticmethod
    def _report(codec: AvroCodec, report_id: str, commune: str, province: str) -> bytes:
        """A valid ``commune_report.v2`` message for ``commune`` in the second period."""
        return codec.encode(
            {
                "report_id": report_id,
                "commune_code": commune,
                "province_code": province,
                "period": SECOND_PERIOD,
                "revision": 1,
                "submitted_at": datetime.now(UTC),
                "indicators": {"tthc_received": 2.0},
                "report_type": "monthly",
                "reporter_name": None,
                "reporter_contact": None,
                "notes": None,
            }
        )


def split(lines: list[Line], parts: int) -> list[list[Line]]:
    """``parts`` consecutive chunks of (nearly) equal size, in order."""
    size = -(-len(lines) // parts)
    return [lines[i * size : (i + 1) * size] for i in range(parts)]


def print_table(outcomes: list[Outcome], *, seconds: float, logs: Path) -> None:
    print()
    print("| fault | what is checked | time to catch up (lag 0) | result |")
    print("|---|---|---|---|")
    for o in outcomes:
        shown = f"{o.catch_up_seconds:.1f} s" if o.catch_up_seconds is not None else "-"
        if o.not_run:
            result = f"not run: {o.note}"
        elif o.passed:
            result = "pass" + (f" ({o.note})" if o.note else "")
        else:
            result = "FAIL: " + "; ".join(o.problems)
        print(f"| {o.fault} | {o.checked} | {shown} | {result} |")
    print(f"\nchaos: {seconds:.0f} s in all; logs in {logs}")


if __name__ == "__main__":
    sys.exit(main())
