"""Settings, database, Redis, HTTP client, adapters to outside systems and local launchers."""
