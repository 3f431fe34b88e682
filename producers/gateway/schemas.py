"""The gateway's request and answer shapes, as the OpenAPI document (``/openapi.json``) shows
them to the communes' developers.

The request body is *documented* with :class:`ReportDocument` but judged by the pipeline's own
rules (:mod:`baocao.producers.verdicts`), never by this model: a commune must get the same reason
codes over HTTP as from the stream.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AcceptedAnswer",
    "CommuneReportsAnswer",
    "ErrorAnswer",
    "HealthAnswer",
    "ReasonAnswer",
    "RejectedAnswer",
    "ReportDocument",
    "ReportStatusAnswer",
    "report_body_openapi",
]

_EXAMPLE: dict[str, Any] = {
    "report_id": "6f1c2b0e-3d1f-4b7a-9a8e-1f2e3d4c5b6a",
    "commune_code": "00070",
    "province_code": "01",
    "period": "2025-08",
    "revision": 1,
    "submitted_at": "2025-09-02T09:30:00+07:00",
    "indicators": {"tthc_received": 120, "tthc_resolved_on_time": 101, "tthc_resolved_late": 4},
}


class ReportDocument(BaseModel):
    """A commune report: the canonical JSON form of the Avro schema ``commune_report.v2``."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": _EXAMPLE})

    report_id: str = Field(description="A UUID chosen by the sender; sending it again is safe.")
    commune_code: str = Field(description="5-digit commune code; must be the token's commune.")
    province_code: str = Field(description="2-digit code of the commune's province.")
    period: str = Field(description="The period reported on, e.g. 2025-08.")
    revision: int = Field(description="1 for the first report, higher for each correction.")
    submitted_at: str = Field(description="ISO 8601 time with its UTC offset.")
    indicators: dict[str, float] = Field(
        description="Indicator codes of the catalogue (`baocao indicators`) to non-negative "
        "numbers; ratios are computed, never reported."
    )
    report_type: str | None = Field(
        default=None,
        description="daily, weekly, monthly, quarterly or yearly; optional, must match the "
        "period's form (filled from the period when absent).",
    )
    reporter_name: str | None = Field(default=None, description="Who filled in the report.")
    reporter_contact: str | None = Field(default=None, description="Phone or e-mail.")
    notes: str | None = Field(default=None, description="Free-text remarks.")


def report_body_openapi() -> dict[str, Any]:
    """``openapi_extra`` of the submit route: the body is read raw, so it is described here."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": ReportDocument.model_json_schema()}},
        }
    }


class AcceptedAnswer(BaseModel):
    report_id: str
    status: Literal["published"]
    commune_code: str
    province_code: str
    period: str
    revision: int
    received_at: str
    status_url: str


class ReasonAnswer(BaseModel):
    code: str = Field(description="Stable reason code, e.g. unknown_indicator.")
    field: str | None = Field(description="The field at fault, e.g. indicators.tthc_received.")
    message_en: str
    message_vi: str


class ErrorAnswer(BaseModel):
    error: str
    message: str
    #: The same in Vietnamese, for the people who read it (the commune app shows it).
    message_vi: str | None = None


class RejectedAnswer(ErrorAnswer):
    report_id: str | None
    reasons: list[ReasonAnswer]


class SupersededBy(BaseModel):
    report_id: str
    revision: int


class ReportStatusAnswer(BaseModel):
    report_id: str
    commune_code: str
    province_code: str
    period: str
    revision: int
    state: Literal["pending", "accepted", "superseded", "rejected"]
    received_at: str | None = Field(description="When the gateway received it (else null).")
    published_at: str | None
    latest_revision: int | None = Field(
        description="The revision ClickHouse holds as latest for this commune and period."
    )
    superseded_by: SupersededBy | None = None
    duplicate_of: str | None = Field(
        default=None, description="The report id the stream kept for this exact resend."
    )
    rejected_at: str | None = None
    reasons: list[ReasonAnswer] | None = None
    deadline: str | None = Field(default=None, description="The period's deadline (local time).")
    on_time: bool | None = Field(
        default=None, description="Received by the deadline (null: not received here)."
    )


class CommuneReportsAnswer(BaseModel):
    commune_code: str
    commune_name: str
    province_code: str
    reports: list[ReportStatusAnswer]


class HealthAnswer(BaseModel):
    status: Literal["ok", "unavailable"]
    kafka: str
    clickhouse: str
