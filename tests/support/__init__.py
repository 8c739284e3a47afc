"""Helpers shared by the test suite: launchers of real services and small clients."""
