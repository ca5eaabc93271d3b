"""The pack where the data is: the whole decision as one SQL query (`query`), run by DuckDB for `iop score --engine
duckdb` (`duckdb_engine`), and by Spark through Arrow (`spark`)."""
