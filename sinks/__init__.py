"""Where the pipeline's results land: the ClickHouse schema (migrations) and the sink."""
