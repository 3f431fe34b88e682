"""ClickHouse: numbered migrations, reference tables, and the Kafka-to-ClickHouse sink.

Modules, each with one job: ``client`` (connections), ``sql`` (splitting migration files),
``migrate`` (applying and recording migrations), ``reference_tables`` (provinces and
communes), ``rows`` (message to row), ``writer`` (one insert per table per batch), ``sink``
(the consume, write, commit loop).
"""
