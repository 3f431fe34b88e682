"""Who may do what on Kafka: the SCRAM users, the topics and the per-principal ACLs.

Rule: the broker denies what no ACL allows, so a principal gets exactly the ACLs listed here
(the table is in docs/security.md, "Kafka: authorization"); :func:`apply_kafka_access` is
idempotent: ``baocao stack up`` runs it every time, tests run it for their own prefix.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from kafka.admin import (
    ACL,
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    AlterConfigOp,
    ConfigResource,
    ConfigResourceType,
    KafkaAdminClient,
    ResourcePattern,
    ResourcePatternFilter,
    ResourceType,
    ScramMechanism,
    UserScramCredentialUpsertion,
)
from kafka.errors import KafkaError

from baocao.core.kafka import admin_client, drifted_topic_configs, ensure_topics, topic_configs
from baocao.core.principals import CLIENT_PRINCIPALS, Principal, ScramCredential
from baocao.core.settings import KafkaSettings, Settings
from baocao.core.topics import Topics

__all__ = [
    "Grant",
    "PipelineNames",
    "acl_table",
    "apply_kafka_access",
    "remove_kafka_access",
]

logger = logging.getLogger(__name__)

_LITERAL = ACLResourcePatternType.LITERAL
_PREFIXED = ACLResourcePatternType.PREFIXED
_WRITE = (ACLOperation.WRITE, ACLOperation.DESCRIBE)
_READ = (ACLOperation.READ, ACLOperation.DESCRIBE)
_ANY_PATTERN = ACLResourcePatternType.ANY


@dataclass(frozen=True, slots=True)
class PipelineNames:
    """The names a pipeline's ACLs are about."""

    topic_prefix: str
    worker_app_id: str
    sink_group: str
    #: Rebuild workers (``baocao rebuild worker --app-id``): each gets the worker's grants
    #: under its own app id, and its own output topics (``Topics.rebuilt_by``).
    rebuild_app_ids: tuple[str, ...] = ()

    @classmethod
    def of(cls, settings: Settings) -> PipelineNames:
        rebuilds = tuple(
            app_id.strip()
            for app_id in settings.worker.rebuild_app_ids.split(",")
            if app_id.strip()
        )
        return cls(
            settings.kafka.topic_prefix, settings.worker.app_id, settings.sink.group_id, rebuilds
        )


@dataclass(frozen=True, slots=True)
class Grant:
    """One allowed operation of one principal on one resource."""

    principal: Principal
    resource: ResourceType
    name: str
    pattern: ACLResourcePatternType
    operation: ACLOperation

    def acl(self) -> ACL:
        return ACL(
            principal=f"User:{self.principal.value}",
            host="*",
            operation=self.operation,
            permission_type=ACLPermissionType.ALLOW,
            resource_pattern=ResourcePattern(self.resource, self.name, self.pattern),
        )


def _topic(
    principal: Principal, names: Iterable[str], operations: Iterable[ACLOperation]
) -> Iterator[Grant]:
    for name in names:
        for operation in operations:
            yield Grant(principal, ResourceType.TOPIC, name, _LITERAL, operation)


def acl_table(names: PipelineNames) -> list[Grant]:
    """Every grant of the pipeline ``names`` (see the module docstring)."""
    topics = Topics(names.topic_prefix)
    outputs = (
        topics.accepted_reports,
        topics.province_indicators,
        topics.dead_letter,
        topics.province_completeness,
        topics.province_indicator_changes,
        topics.report_warnings,
        topics.reporting_periods,
        topics.missing_report_alerts,
        topics.approval_decisions,
    )
    inputs = (
        topics.commune_reports,
        topics.historic_reports,
        topics.approvals,
        topics.reporting_obligations,
    )
    grants = [
        *_topic(Principal.GATEWAY, [topics.commune_reports], _WRITE),
        *_topic(Principal.PUBLISHER, [topics.commune_reports], _WRITE),
        *_topic(Principal.HISTORIC_LOADER, [topics.historic_reports], _WRITE),
        # Officers' decisions: approval steps, and who must report what (baocao obligations).
        *_topic(Principal.APPROVER, [topics.approvals, topics.reporting_obligations], _WRITE),
        *_topic(Principal.WORKER, inputs, (*_READ, ACLOperation.DESCRIBE_CONFIGS)),
        *_topic(Principal.WORKER, outputs, _WRITE),
        *_topic(Principal.SINK, [*outputs, topics.approvals, topics.reporting_obligations], _READ),
    ]
    grants += _worker_state(names.worker_app_id)
    for app_id in names.rebuild_app_ids:
        # A rebuild worker: the same inputs, its own outputs, changelogs and group.
        rebuilt = topics.rebuilt_by(app_id).worker_outputs()
        grants += _topic(Principal.WORKER, rebuilt, _WRITE)
        grants += _topic(Principal.SINK, rebuilt, _READ)  # for a cut-over to them
        grants += _worker_state(app_id)
    grants += [
        Grant(Principal.SINK, ResourceType.GROUP, names.sink_group, _LITERAL, op) for op in _READ
    ]
    return grants


def _worker_state(app_id: str) -> list[Grant]:
    """The worker ``app_id``'s consumer group and its changelog and leader topics (named
    after the app id; it creates them)."""
    grants = [
        Grant(Principal.WORKER, ResourceType.TOPIC, f"{app_id}-", _PREFIXED, op)
        for op in (
            ACLOperation.CREATE,
            ACLOperation.READ,
            ACLOperation.WRITE,
            ACLOperation.DESCRIBE,
            ACLOperation.DESCRIBE_CONFIGS,
        )
    ]
    grants += [Grant(Principal.WORKER, ResourceType.GROUP, app_id, _LITERAL, op) for op in _READ]
    return grants


def _create_topics(admin: KafkaAdminClient, kafka: KafkaSettings, topics: Topics) -> None:
    """Create the pipeline's missing topics as declared (:func:`ensure_topics`), and correct
    the configurations of existing ones (a 7-day retention from the broker's default, a
    producer's timestamp), logging each change."""
    ensure_topics(
        kafka, topics.all(), configs={name: topic_configs(topics, name) for name in topics.all()}
    )
    drift = drifted_topic_configs(admin, topics, topics.all())
    if not drift:
        return
    answers = admin.alter_configs(
        [
            ConfigResource(
                ConfigResourceType.TOPIC,
                name,
                configs={key: (AlterConfigOp.SET, declared) for key, (_, declared) in keys.items()},
            )
            for name, keys in drift.items()
        ]
    ).get("topic", {})
    refused = {name: answer for name, answer in answers.items() if answer != "OK"}
    if refused:
        raise KafkaError(f"the broker refused topic configurations: {refused}")
    for name, keys in drift.items():
        for key, (live, declared) in keys.items():
            logger.warning("topic %s: %s was %s, set to %s as declared", name, key, live, declared)


def _identity(acl: ACL) -> tuple[object, ...]:
    pattern = acl.resource_pattern
    return (
        acl.principal,
        int(pattern.resource_type),
        pattern.resource_name,
        int(pattern.pattern_type),
        int(acl.operation),
    )


def _wait_until_in_force(admin: object, grants: list[Grant], *, timeout: float = 15.0) -> None:
    """Return once the broker authorizes with every grant.

    The controller commits new ACLs to the metadata log and the broker applies them a moment
    later; a client that connects in between is refused. DescribeAcls answers from the
    broker's own authorizer, so it tells when the grants are in force there.
    """
    wanted = {_identity(grant.acl()) for grant in grants}
    everything = ACLFilter(
        principal=None,
        host="*",
        operation=ACLOperation.ANY,
        permission_type=ACLPermissionType.ALLOW,
        resource_pattern=ResourcePatternFilter(ResourceType.ANY, None, _ANY_PATTERN),
    )
    deadline = time.monotonic() + timeout
    while True:
        found, _error = admin.describe_acls(everything)  # type: ignore[attr-defined]
        missing = wanted - {_identity(acl) for acl in found}
        if not missing:
            return
        if time.monotonic() >= deadline:
            raise KafkaError(f"{len(missing)} ACLs not in force after {timeout:.0f}s")
        time.sleep(0.1)


def apply_kafka_access(
    admin_kafka: KafkaSettings,
    names: PipelineNames,
    *,
    credentials: Mapping[str, ScramCredential] | None = None,
    create_topics: bool = True,
) -> list[Grant]:
    """As the admin: the client principals' SCRAM users (``credentials``), the pipeline's
    topics (``create_topics``) and its ACLs. Idempotent; returns the grants."""
    grants = acl_table(names)
    admin = admin_client(admin_kafka)
    try:
        if credentials:
            upserts = [
                UserScramCredentialUpsertion(
                    credential.username,
                    ScramMechanism[credential.mechanism.replace("-", "_")],
                    credential.password.get_secret_value(),
                )
                for name, credential in credentials.items()
                if name in {p.value for p in CLIENT_PRINCIPALS}
            ]
            errors = {u: e for u, e in admin.alter_user_scram_credentials(upserts).items() if e}
            if errors:
                raise KafkaError(f"the broker refused SCRAM users: {errors}")
        if create_topics:
            _create_topics(admin, admin_kafka, Topics(names.topic_prefix))
            for app_id in names.rebuild_app_ids:
                _create_topics(admin, admin_kafka, Topics(names.topic_prefix).rebuilt_by(app_id))
        result = admin.create_acls([grant.acl() for grant in grants])
        if result["failed"]:
            raise KafkaError(f"the broker refused ACLs: {result['failed'][:3]}")
        _wait_until_in_force(admin, grants)
    finally:
        admin.close()
    logger.info(
        "Kafka access of prefix %r: %d ACLs for %d principals",
        names.topic_prefix,
        len(grants),
        len({g.principal for g in grants}),
    )
    return grants


def remove_kafka_access(admin_kafka: KafkaSettings, names: PipelineNames) -> None:
    """Delete the ACLs :func:`apply_kafka_access` made for ``names`` (a test's prefix)."""
    admin = admin_client(admin_kafka)
    try:
        admin.delete_acls([grant.acl() for grant in acl_table(names)])
    finally:
        admin.close()
