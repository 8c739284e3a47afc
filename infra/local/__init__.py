"""Launchers for the local stores used in development and tests."""
