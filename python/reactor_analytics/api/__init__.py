"""HTTP API blueprints: ingest, admin (projects and keys), operations (health, doctor, logs)."""
