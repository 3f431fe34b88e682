"""The contracts of the pipeline: Avro schemas of every topic and the indicator catalogue.

The files here are data, shipped with the package; the codec reads them by name so that every
producer and consumer encodes with the same, versioned schema.
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable

__all__ = ["avro_schema_names", "avro_schema_path", "indicator_catalogue_path"]


def avro_schema_path(name: str) -> Traversable:
    """Path of ``schemas/avro/<name>.avsc`` (for example ``commune_report.v1``)."""
    return files(__name__) / "avro" / f"{name}.avsc"


def avro_schema_names() -> tuple[str, ...]:
    """Names of every shipped Avro schema (``commune_report.v1`` ...), sorted."""
    suffix = ".avsc"
    return tuple(
        sorted(
            entry.name[: -len(suffix)]
            for entry in (files(__name__) / "avro").iterdir()
            if entry.name.endswith(suffix)
        )
    )


def indicator_catalogue_path() -> Traversable:
    return files(__name__) / "indicators.json"
