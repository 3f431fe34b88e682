"""``baocao dashboard``: serve the live monitoring page."""

from __future__ import annotations

import logging

import typer

from baocao.core.settings import Settings

__all__ = ["dashboard"]

logger = logging.getLogger(__name__)


def dashboard(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8765, "--port", min=1, max=65535, help="Port to listen on."),
) -> None:
    """Serve the live dashboard of reporting completeness and indicators (read-only: it
    queries the ClickHouse BI views; open http://HOST:PORT/ in a browser)."""
    import uvicorn

    from baocao.app.dashboard.app import create_app
    from baocao.app.dashboard.queries import DashboardQueries

    settings = Settings().with_clickhouse_login("reader")
    app = create_app(DashboardQueries(settings.clickhouse))
    logger.info("dashboard on http://%s:%d/", host, port)
    uvicorn.run(app, host=host, port=port, log_level="warning")
