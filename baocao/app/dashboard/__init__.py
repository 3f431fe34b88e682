"""``baocao dashboard``: a live, read-only page of the BI views for provincial monitoring.

Rule: it reads the views through the read model (:mod:`baocao.app.views`), the very views the
BI users query, and never publishes, transforms or writes anything; a static page shipped in
this package (no CDN) polls its small JSON API every few seconds.
"""
