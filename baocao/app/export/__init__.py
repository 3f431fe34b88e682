"""``baocao export``: the report a province (or the national tier) hands upward, as a
printable Excel workbook with Vietnamese or English headers.

Rule: the CLI and the dashboard's download route both call :mod:`.service`, so the two files
never differ; :mod:`.data` reads through the read model, :mod:`.workbook` lays the sheets out,
:mod:`.routes` serves the downloads.
"""
