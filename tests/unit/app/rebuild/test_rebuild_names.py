"""The rebuild worker's own outputs and the grants ``stack up`` gives it (literal per name)."""

from __future__ import annotations

from kafka.admin import ACLOperation, ACLResourcePatternType, ResourceType

from baocao.app.stack.kafka_access import PipelineNames, acl_table
from baocao.core.principals import Principal
from baocao.core.settings import Settings, WorkerSettings
from baocao.core.topics import SPECS, Component, Topics


def test_a_rebuild_reads_the_live_inputs_and_writes_outputs_of_its_own() -> None:
    live = Topics("baocao")
    rebuilt = live.rebuilt_by("baocao-rollup-2")
    assert rebuilt.commune_reports == live.commune_reports == "baocao.commune-reports"
    assert rebuilt.historic_reports == live.historic_reports
    assert rebuilt.approvals == live.approvals
    assert rebuilt.province_indicators == "baocao.baocao-rollup-2.province-indicators"
    assert rebuilt.dead_letter == "baocao.baocao-rollup-2.commune-reports.dead-letter"
    assert set(rebuilt.worker_outputs()).isdisjoint(live.all())
    written_by_the_worker = [spec for spec in SPECS if spec.writer is Component.STREAMS]
    assert len(rebuilt.worker_outputs()) == len(written_by_the_worker) >= 9
    assert rebuilt.spec(rebuilt.accepted_reports) is live.spec(live.accepted_reports)


def test_stack_up_grants_a_listed_rebuild_worker_its_outputs_group_and_changelogs() -> None:
    settings = Settings(worker=WorkerSettings(rebuild_app_ids="baocao-rollup-2, x"))
    names = PipelineNames.of(settings)
    assert names.rebuild_app_ids == ("baocao-rollup-2", "x")
    grants = acl_table(names)
    without = acl_table(PipelineNames.of(Settings()))
    extra = [g for g in grants if g not in without]
    outputs = Topics("baocao").rebuilt_by("baocao-rollup-2").worker_outputs()
    writes = {
        g.name
        for g in extra
        if g.resource is ResourceType.TOPIC
        and g.pattern is ACLResourcePatternType.LITERAL
        and g.operation is ACLOperation.WRITE
    }
    assert set(outputs) <= writes
    assert {g.principal for g in extra} == {Principal.WORKER, Principal.SINK}
    sink_reads = {g.name for g in extra if g.principal is Principal.SINK and ".x." not in g.name}
    assert sink_reads == set(outputs)
    assert any(
        g.resource is ResourceType.GROUP
        and g.name == "baocao-rollup-2"
        and g.pattern is ACLResourcePatternType.LITERAL
        for g in extra
    )
    assert any(
        g.name == "baocao-rollup-2-" and g.pattern is ACLResourcePatternType.PREFIXED for g in extra
    )
    # Nothing prefixed on the outputs: every one is granted by its name.
    assert not any(
        g.pattern is ACLResourcePatternType.PREFIXED and g.name.startswith("baocao.") for g in extra
    )
    # The live worker's access is unchanged.
    assert all(g in grants for g in without)


def test_a_sink_lands_the_outputs_of_the_worker_it_is_given() -> None:
    from baocao.app.rebuild.replay import sink_topics

    live = Settings()
    cut_over = Settings(worker=WorkerSettings(output_prefix="baocao.baocao-rollup-2"))
    assert "baocao.province-indicators" in sink_topics(live)
    assert "baocao.baocao-rollup-2.province-indicators" in sink_topics(cut_over)
    assert "baocao.province-indicators" not in sink_topics(cut_over)
    assert "baocao.approvals" in sink_topics(cut_over)  # an input: the live one
