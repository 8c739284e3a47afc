"""Actor modules, one per domain; `workers.main` imports them all."""
