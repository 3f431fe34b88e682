"""The services one gateway process shares between its requests."""

from __future__ import annotations

from dataclasses import dataclass

from baocao.core.settings import Settings
from baocao.producers.gateway.clerk_door import ClerkDoor
from baocao.producers.gateway.form import FormService
from baocao.producers.gateway.health import HealthChecker
from baocao.producers.gateway.lookup import StatusService
from baocao.producers.gateway.metrics import GatewayMetrics
from baocao.producers.gateway.ratelimit import TokenBucketLimiter
from baocao.producers.gateway.submit import SubmissionService
from baocao.producers.gateway.tokens import TokenStore

__all__ = ["Gateway"]


@dataclass(frozen=True, slots=True)
class Gateway:
    """Everything a request needs, built once per process by the lifespan."""

    settings: Settings
    tokens: TokenStore
    limiter: TokenBucketLimiter
    submissions: SubmissionService
    status: StatusService
    health: HealthChecker
    metrics: GatewayMetrics
    door: ClerkDoor
    form: FormService
