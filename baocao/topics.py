"""Every Kafka topic of the pipeline, named in one place.

A prefix (``BAOCAO_KAFKA_TOPIC_PREFIX``) lets several pipelines, or several tests, share one
broker without seeing each other's events.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Topics"]


@dataclass(frozen=True, slots=True)
class Topics:
    prefix: str = "baocao"

    @property
    def commune_reports(self) -> str:
        """Reports as communes submit them (Avro ``CommuneReport``), keyed by province code."""
        return f"{self.prefix}.commune-reports"

    @property
    def accepted_reports(self) -> str:
        """Reports the worker accepted as the latest revision, keyed by commune and period."""
        return f"{self.prefix}.commune-reports.accepted"

    @property
    def province_indicators(self) -> str:
        """Absolute provincial figures (Avro ``ProvinceIndicator``), keyed by province,
        period and indicator."""
        return f"{self.prefix}.province-indicators"

    @property
    def dead_letter(self) -> str:
        """Refused reports with their reasons (Avro ``RejectedReport``), keyed by commune code."""
        return f"{self.prefix}.commune-reports.dead-letter"

    def all(self) -> tuple[str, ...]:
        return (
            self.commune_reports,
            self.accepted_reports,
            self.province_indicators,
            self.dead_letter,
        )
