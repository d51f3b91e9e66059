"""Model prices: what reported token usage costs, from a table the user extends.

Prices are US dollars per million input and output tokens. The built-in table is a
starting point only (prices change); the manifest's ``cost.models`` adds models
and overrides these. Pure: no I/O.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from enclosure.errors import UsageError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from enclosure.manifest import ModelPrice

__all__ = ["DEFAULT_PRICES", "PriceTable"]

DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o": (2.5, 10.0),
    "gpt-4o-mini": (0.15, 0.6),
    "claude-sonnet-4": (3.0, 15.0),
    "claude-haiku-4": (1.0, 5.0),
}
"""``model: (input, output)`` in dollars per million tokens; extend via the manifest."""


class PriceTable:
    """Prices by model name; the manifest's entries win over the built-in ones."""

    def __init__(self, extra: Mapping[str, ModelPrice] | None = None) -> None:
        self.prices = dict(DEFAULT_PRICES)
        for name, price in (extra or {}).items():
            self.prices[name] = (price.input, price.output)

    def cost(self, model: str, input_tokens: int, output_tokens: int) -> float:
        """What the tokens cost.

        Raises:
            UsageError: ``E-COST-MODEL``, the model has no price, or a count is
                negative.
        """
        if input_tokens < 0 or output_tokens < 0:
            msg = "token counts cannot be negative"
            raise UsageError(msg, code="E-COST-MODEL")
        price = self.prices.get(model)
        if price is None:
            msg = f"model {model!r} has no price; add it under cost.models"
            raise UsageError(msg, code="E-COST-MODEL")
        return (input_tokens * price[0] + output_tokens * price[1]) / 1_000_000
