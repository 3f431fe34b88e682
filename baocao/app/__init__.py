"""The application layer: the ``baocao`` CLI, the demo, the local stack, BI access
administration and the live dashboard. It may import every layer below it; nothing imports it.
"""
