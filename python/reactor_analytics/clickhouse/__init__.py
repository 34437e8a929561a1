"""The ClickHouse store of events (`[events] store = "clickhouse"`): its tables, the forwarder that
copies PostgreSQL's committed rows into them, and the query kinds translated to ClickHouse SQL."""
