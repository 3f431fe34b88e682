"""PLACEHOLDER: replaced by the producers implementation."""


def publish() -> None:
    """Publish reports from a JSON-lines file."""
    raise NotImplementedError


def simulate() -> None:
    """Publish realistic reports for all communes."""
    raise NotImplementedError
