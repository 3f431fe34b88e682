"""PLACEHOLDER: replaced by the stack implementation."""

import typer

stack_app = typer.Typer(help="Start, stop and inspect the local Kafka and ClickHouse servers.")
