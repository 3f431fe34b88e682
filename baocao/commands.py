"""Commands that span the pipeline: the indicator catalogue and the end-to-end demo."""

from __future__ import annotations

import json

import typer

from baocao.catalogue import load_catalogue

__all__ = ["demo", "indicators"]


def indicators(
    as_json: bool = typer.Option(False, "--json", help="Print the catalogue as a JSON array."),
) -> None:
    """List the indicator catalogue: codes, names, units, domains and how each rolls up."""
    catalogue = load_catalogue()
    if as_json:
        typer.echo(json.dumps([i.as_json() for i in catalogue], ensure_ascii=False, indent=2))
        return
    for i in catalogue:
        rule = f"{i.numerator} / {i.denominator}" if i.is_derived else i.aggregation
        typer.echo(f"{i.code:38} {i.domain:28} {i.unit:12} {rule:60} {i.name_en}")


def demo() -> None:
    """Run the pipeline end to end on the local stack and print the provincial table."""
    raise NotImplementedError
