"""The HTTP ingestion gateway: communes submit reports over HTTPS instead of writing to Kafka.

``baocao gateway`` serves ``POST /v1/reports`` (judged with the stream's own rules, published
as the same Avro event ``baocao publish`` writes), the status of a commune's reports, health and
metrics. Who may submit what is decided by per-commune API tokens (``baocao tokens``).
"""
