"""``baocao dashboard``: a live, read-only view of the BI views for provincial monitoring.

It reads the same ClickHouse views the BI users query and serves them as a small JSON API
that a static page (shipped in this package, no CDN) polls every few seconds. It never
publishes, transforms or writes anything.
"""
