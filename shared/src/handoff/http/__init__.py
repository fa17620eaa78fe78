"""HTTP edges shared by the services: problem+json errors, API-key auth, health, metrics, limits."""
