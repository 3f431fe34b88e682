"""The services one gateway process shares between its requests."""

from __future__ import annotations

from dataclasses import dataclass

from baocao.settings import Settings
from producers.gateway.health import HealthChecker
from producers.gateway.lookup import StatusService
from producers.gateway.metrics import GatewayMetrics
from producers.gateway.ratelimit import TokenBucketLimiter
from producers.gateway.submit import SubmissionService
from producers.gateway.tokens import TokenStore

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
