"""Plans, quotas and rate limits, the usage ledger, rating, invoices and Stripe sync."""
