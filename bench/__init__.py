"""Benchmarks of the hot paths; run with ``make bench`` (``python -m bench``)."""
