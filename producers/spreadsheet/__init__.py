"""Reports from spreadsheets: a template per report type (``baocao template``) and the import
of filled-in sheets (``baocao import``), judged row by row with the pipeline's own rules."""
