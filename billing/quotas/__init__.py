"""Quotas package."""
