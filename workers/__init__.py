"""Dramatiq broker, the actor decorator, actors and the periodic scheduler."""
