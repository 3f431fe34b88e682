"""The read model: what the dashboard and the export read from the ClickHouse BI views.

Rule: every read of the views passes through :meth:`~baocao.app.views.reader.Views.read`,
which admits the read's province against the reader's :class:`~baocao.app.views.scope.Scope`
first; no other part of the app opens a client on the views. See docs/views.md.
"""
