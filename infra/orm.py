"""The declarative base of every ORM model (apart from db.py so infra modules can map tables)."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Declarative base of every ORM model."""
