"""The local servers (Kafka in KRaft mode, ClickHouse) that baocao runs without Docker."""
