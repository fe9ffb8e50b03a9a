"""The paper venue: the market maker's orders on an in-process copy of the simulated
Binance's matching engine, filled when the real market trades through them."""

from adapters.paper.venue import Fill, PaperVenue

__all__ = ["Fill", "PaperVenue"]
