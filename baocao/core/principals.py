"""Who a process is on Kafka: one SCRAM principal per kind of process, found in the stack home.

The local stack's broker authenticates every client (SASL/SCRAM, no PLAINTEXT client listener)
and authorizes each principal for what its process does and nothing else (see
``baocao/app/stack/kafka_access.py`` and docs/security.md). ``baocao stack up`` generates
the principals' passwords into the stack home, one file per principal::

    <home>/kafka/credentials/           mode 0700
        admin.json gateway.json ...     mode 0600: {"username", "password", "mechanism"}

Each command takes its own principal by default (:func:`with_principal`), so a laptop needs
no configuration; ``BAOCAO_KAFKA_SASL_USERNAME``/``_PASSWORD`` (and an explicit
``BAOCAO_KAFKA_SECURITY_PROTOCOL``) override it, which is how another deployment (Docker,
production) hands each process its own credentials.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from pydantic import SecretStr

from baocao.core.settings import KafkaSettings, Settings, StackSettings

__all__ = [
    "SCRAM_MECHANISM",
    "Principal",
    "ScramCredential",
    "credentials_dir",
    "ensure_credentials",
    "load_credential",
    "resolve_kafka",
    "with_principal",
    "write_private",
]

logger = logging.getLogger(__name__)

#: The mechanism every generated principal uses (the broker also accepts SCRAM-SHA-512).
SCRAM_MECHANISM = "SCRAM-SHA-256"
_PASSWORD_BYTES = 24


class Principal(StrEnum):
    """The Kafka users of the pipeline; the value is the SCRAM user name."""

    #: ``baocao stack``, tests: creates topics, ACLs and SCRAM users (a super user).
    ADMIN = "admin"
    #: The broker itself (inter-broker listener); never used by a client.
    BROKER = "broker"
    #: ``baocao gateway``: writes ``commune-reports`` only.
    GATEWAY = "gateway"
    #: ``baocao publish``, ``simulate``, ``import``: write ``commune-reports`` only.
    PUBLISHER = "publisher"
    #: ``baocao publish --historic``: writes ``commune-reports.historic`` only.
    HISTORIC_LOADER = "historic-loader"
    #: ``baocao approve``, ``baocao obligations``: writes ``approvals`` and
    #: ``reporting-obligations`` only.
    APPROVER = "approver"
    #: ``baocao worker``: reads its inputs, writes its outputs and its own changelogs.
    WORKER = "worker"
    #: ``baocao sink``: reads the outputs, the approvals and the obligations.
    SINK = "sink"


#: The principals a client process may run as (all but the broker's own).
CLIENT_PRINCIPALS = tuple(p for p in Principal if p is not Principal.BROKER)


@dataclass(frozen=True, slots=True)
class ScramCredential:
    username: str
    password: SecretStr
    mechanism: str = SCRAM_MECHANISM


def credentials_dir(stack: StackSettings) -> Path:
    return stack.home.absolute() / "kafka" / "credentials"


def write_private(path: Path, text: str) -> None:
    """Write ``text`` atomically, readable by the owner only from its first byte on, in a
    folder only the owner may enter."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.parent.chmod(0o700)
    partial = path.with_name(path.name + ".partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(partial, 0o600)
    os.replace(partial, path)


def load_credential(stack: StackSettings, principal: str) -> ScramCredential | None:
    """The stored credential of ``principal``, or ``None`` when the stack home has none."""
    path = credentials_dir(stack) / f"{principal}.json"
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read the Kafka credential {path}: {exc}") from exc
    return ScramCredential(
        username=str(document["username"]),
        password=SecretStr(str(document["password"])),
        mechanism=str(document.get("mechanism", SCRAM_MECHANISM)),
    )


def ensure_credentials(
    stack: StackSettings, principals: Iterable[str] = tuple(Principal)
) -> dict[str, ScramCredential]:
    """Generate a password for each principal that has none; return them all. Idempotent:
    an existing password is never changed."""
    found: dict[str, ScramCredential] = {}
    for principal in principals:
        credential = load_credential(stack, principal)
        if credential is None:
            credential = ScramCredential(principal, SecretStr(secrets.token_hex(_PASSWORD_BYTES)))
            document = {
                "username": credential.username,
                "password": credential.password.get_secret_value(),
                "mechanism": credential.mechanism,
            }
            write_private(
                credentials_dir(stack) / f"{principal}.json", json.dumps(document, indent=2)
            )
            logger.info("generated the Kafka credential of %r", str(principal))
        found[principal] = credential
    return found


def resolve_kafka(
    kafka: KafkaSettings, stack: StackSettings, principal: Principal
) -> KafkaSettings:
    """``kafka`` with the credentials of ``principal`` from the stack home filled in.

    Explicit settings win: a ``sasl_username`` given (env var) is kept, and so is a security
    protocol without SASL (``PLAINTEXT``, ``SSL``). With the protocol unset and no stored
    credential (a broker without the stack's users), the client speaks PLAINTEXT.
    """
    protocol = kafka.security_protocol
    if kafka.sasl_username:
        if protocol is None:
            return kafka.model_copy(update={"security_protocol": "SASL_PLAINTEXT"})
        return kafka
    if protocol in ("PLAINTEXT", "SSL"):
        return kafka
    credential = load_credential(stack, principal)
    if credential is None:
        return (
            kafka
            if protocol is not None
            else kafka.model_copy(update={"security_protocol": "PLAINTEXT"})
        )
    return kafka.model_copy(
        update={
            "security_protocol": protocol or "SASL_PLAINTEXT",
            "sasl_mechanism": credential.mechanism,
            "sasl_username": credential.username,
            "sasl_password": credential.password,
        }
    )


def with_principal(settings: Settings, principal: Principal) -> Settings:
    """``settings`` whose Kafka clients log in as ``principal`` (see :func:`resolve_kafka`)."""
    kafka = resolve_kafka(settings.kafka, settings.stack, principal)
    if kafka.sasl_username:
        logger.debug("Kafka principal %r", kafka.sasl_username)
    return settings.model_copy(update={"kafka": kafka})
