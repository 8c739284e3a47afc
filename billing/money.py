"""Money: exact amounts, rounded to the cent once, and their decimal-string form."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

CENT = Decimal("0.01")


def cents(value: Decimal | Fraction | int) -> Decimal:
    """An exact amount rounded to the cent, half away from zero (ROUND_HALF_UP), without error.

    The rounding works on a Fraction, so no intermediate result is ever rounded by a Decimal
    context's precision (a product of 16-digit quantities and 10-decimal prices stays exact).
    """
    exact = Fraction(value)
    magnitude = math.floor(abs(exact) * 100 + Fraction(1, 2))
    rounded = Decimal(magnitude).scaleb(-2).quantize(CENT)
    return -rounded if exact < 0 else rounded


def to_cents(amount: Decimal) -> int:
    """A cent-rounded amount as an integer number of cents (Stripe's unit)."""
    if amount != amount.quantize(CENT):
        raise ValueError(f"{amount} is not rounded to the cent")
    return int(amount.scaleb(2))


def money(amount: Decimal) -> str:
    """A cent amount as the API writes it: "12.34"."""
    return f"{amount.quantize(CENT):f}"


def plain(value: Decimal) -> str:
    """A decimal without exponent or trailing zeros: "0.0000000005", "12000000"."""
    text = f"{value.normalize():f}"
    return text if text != "-0" else "0"
