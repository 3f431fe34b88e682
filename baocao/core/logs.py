"""Logging set-up shared by every command: one line per event, time first, grep-friendly."""

from __future__ import annotations

import logging

__all__ = ["configure_logging"]

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(level=level.upper(), format=FORMAT)
    # kafka-python is very chatty at INFO about connections it opens and closes.
    logging.getLogger("kafka").setLevel(max(logging.WARNING, logging.getLogger().level))
