"""The core every other layer stands on: settings, the report model, periods and deadlines,
the indicator catalogue, reference data, validation and reasons, the Avro codec and registry,
the topic contract, and the Kafka and ClickHouse clients.

It imports nothing of the pipeline above it (``baocao.producers``, ``baocao.streams``,
``baocao.sinks``) nor of the application (``baocao.app``); ``make lint`` checks that.
"""
