"""PLACEHOLDER: replaced by the sink implementation."""


def migrate() -> None:
    """Apply the ClickHouse migrations."""
    raise NotImplementedError


def sink() -> None:
    """Run the ClickHouse sink."""
    raise NotImplementedError
