"""The ingest path: from an HTTP body to durable rows, as a list of named steps."""
