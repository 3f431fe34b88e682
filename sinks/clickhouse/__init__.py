"""ClickHouse: numbered migrations, reference tables, and the Kafka-to-ClickHouse sink.

Modules: ``migrate`` and ``sql`` (applying the migrations), ``reference_tables`` (provinces,
communes, indicators), ``rows`` (message to row), ``writer`` (one insert per table per batch,
in a thread of its own), ``sink`` (the consume, write, commit loop).
"""
