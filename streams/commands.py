"""PLACEHOLDER: replaced by the worker implementation."""


def worker() -> None:
    """Run the Faust stream processors."""
    raise NotImplementedError
