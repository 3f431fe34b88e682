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
    def historic_reports(self) -> str:
        """Reports of past periods loaded on purpose (``baocao publish --historic``), keyed by
        province like ``commune_reports``. Only the ``historic-loader`` principal may write
        it; the worker trusts these reports' own ``submitted_at`` (see docs/security.md)."""
        return f"{self.prefix}.commune-reports.historic"

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

    @property
    def approvals(self) -> str:
        """Provinces approving a period (Avro ``Approval``), keyed by province code like the
        reports, so both land in the same partition number and the worker sees them together."""
        return f"{self.prefix}.approvals"

    @property
    def province_completeness(self) -> str:
        """Who has reported (Avro ``ProvinceCompleteness``), keyed by province, type and period."""
        return f"{self.prefix}.province-completeness"

    @property
    def province_indicator_changes(self) -> str:
        """Every change of a provincial figure with its causes (``ProvinceIndicatorChange``)."""
        return f"{self.prefix}.province-indicator-changes"

    @property
    def report_warnings(self) -> str:
        """Soft rule breaks of accepted reports (Avro ``ReportWarning``), keyed by commune."""
        return f"{self.prefix}.report-warnings"

    @property
    def reporting_periods(self) -> str:
        """Periods communes are expected to report on (``ReportingPeriod``), from the clock."""
        return f"{self.prefix}.reporting-periods"

    @property
    def missing_report_alerts(self) -> str:
        """Communes that have not reported as a deadline nears or passes, keyed by province."""
        return f"{self.prefix}.alerts.missing-reports"

    def all(self) -> tuple[str, ...]:
        return (
            self.commune_reports,
            self.historic_reports,
            self.accepted_reports,
            self.province_indicators,
            self.dead_letter,
            self.approvals,
            self.province_completeness,
            self.province_indicator_changes,
            self.report_warnings,
            self.reporting_periods,
            self.missing_report_alerts,
        )
