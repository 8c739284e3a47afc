"""Tests of billing/quotas/."""
