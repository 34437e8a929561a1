"""HTTP API blueprints: ingest, admin (projects and keys), health."""
