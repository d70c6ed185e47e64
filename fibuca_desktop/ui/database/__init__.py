"""The Database tab (issue 5): connect bar, overview, slow queries, EXPLAIN, index advisor."""
