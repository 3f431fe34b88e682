"""``python -m baocao``: the same as the ``baocao`` console script."""

from baocao.cli import app

app()
