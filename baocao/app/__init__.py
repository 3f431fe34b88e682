"""The application layer: the ``baocao`` CLI, the demo, the local stack, BI access
administration, the live dashboard and the export, over one read model of the BI views.

Rule: it may import every layer below it and nothing imports it; inside, its parts stand apart
(the import-linter contracts in pyproject.toml, explained in docs/views.md).
"""
