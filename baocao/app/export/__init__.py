"""``baocao export``: the report a province (or the national tier) hands upward, as a
printable Excel workbook.

An officer's job ends with a document. The workbook holds what the BI views say for one
report type and period (figures, every commune's status and figures, completeness,
timeliness, the deadline, the approval) with Vietnamese or English headers, laid out to print.
:mod:`.data` reads the views, :mod:`.workbook` lays the sheets out, :mod:`.commands` is the
CLI; the dashboard serves the same workbook from its province page.
"""
