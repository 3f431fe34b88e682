"""``python -m baocao``: the same as the ``baocao`` console script."""

from baocao.app.cli import app

app()
