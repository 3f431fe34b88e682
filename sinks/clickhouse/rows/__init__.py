"""From a Kafka message to the row the sink inserts, in five parts:

- :mod:`.declarations`: every table's columns, declared once (name, ClickHouse type, check);
- :mod:`.checks`: the checks of one value against its column's storage type;
- :mod:`.builders`: one row builder per table, made from its declaration;
- :mod:`.upgrades`: records of older writers brought to the current form;
- :mod:`.routing`: which table each topic fills and which reader decodes each message, with
  poison rows for what cannot be stored.

All pure functions, so every rule is unit-tested without servers. The names below are the
package's public surface (the sink, the tests and the dashboard's fixtures import them here).
"""

from baocao.sinks.clickhouse.rows.builders import (
    accepted_report_row,
    alert_row,
    approval_row,
    change_row,
    completeness_row,
    poison_row,
    province_indicator_row,
    rejection_row,
    reporting_period_row,
    row_builder,
    warning_row,
)
from baocao.sinks.clickhouse.rows.declarations import (
    APPROVALS,
    COMMUNE_REPORTS,
    MISSING_REPORT_ALERTS,
    POISON_MESSAGES,
    PROVINCE_COMPLETENESS_VALUES,
    PROVINCE_INDICATOR_CHANGES,
    PROVINCE_INDICATOR_VALUES,
    REJECTIONS,
    REPORT_WARNINGS_LOG,
    REPORTING_PERIODS,
    TABLES,
    Column,
    Row,
    Table,
)
from baocao.sinks.clickhouse.rows.routing import (
    Envelope,
    MessageRow,
    Reader,
    Route,
    kafka_timestamp,
    message_row,
    routes_for,
    submitted_at_of,
)
from baocao.sinks.clickhouse.rows.upgrades import (
    upgrade_commune_report,
    upgrade_province_indicator,
)

__all__ = [
    "APPROVALS",
    "COMMUNE_REPORTS",
    "MISSING_REPORT_ALERTS",
    "POISON_MESSAGES",
    "PROVINCE_COMPLETENESS_VALUES",
    "PROVINCE_INDICATOR_CHANGES",
    "PROVINCE_INDICATOR_VALUES",
    "REJECTIONS",
    "REPORTING_PERIODS",
    "REPORT_WARNINGS_LOG",
    "TABLES",
    "Column",
    "Envelope",
    "MessageRow",
    "Reader",
    "Route",
    "Row",
    "Table",
    "accepted_report_row",
    "alert_row",
    "approval_row",
    "change_row",
    "completeness_row",
    "kafka_timestamp",
    "message_row",
    "poison_row",
    "province_indicator_row",
    "rejection_row",
    "reporting_period_row",
    "routes_for",
    "row_builder",
    "submitted_at_of",
    "upgrade_commune_report",
    "upgrade_province_indicator",
    "warning_row",
]
