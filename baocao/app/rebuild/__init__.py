"""``baocao rebuild``: recompute ClickHouse and the worker's state from the Kafka log
(docs/operations.md, "Rebuilding from the log")."""
