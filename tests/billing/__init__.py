"""Tests of billing/."""
