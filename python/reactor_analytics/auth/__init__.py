"""Authentication and permissions: project public keys, JWT bearers, the admin token."""
