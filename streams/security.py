"""The Faust worker's broker credentials, from the same settings as every kafka-python client.

kafka-python clients get their security options from :func:`baocao.core.kafka.client_options`;
Faust (aiokafka underneath) takes a credentials object instead, built here so both kinds of
client of one deployment always authenticate the same way.
"""

from __future__ import annotations

import faust
from faust.types.auth import CredentialsT

from baocao.core.kafka import ssl_context
from baocao.core.settings import KafkaSettings

__all__ = ["broker_credentials"]


def broker_credentials(settings: KafkaSettings) -> CredentialsT | None:
    """SASL (SCRAM, over TLS for ``SASL_SSL``) or TLS credentials; ``None`` for PLAINTEXT."""
    context = ssl_context(settings)
    if settings.uses_sasl:
        return faust.SASLCredentials(
            username=settings.sasl_username,
            password=settings.sasl_password.get_secret_value(),
            mechanism=settings.sasl_mechanism,
            ssl_context=context,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None
