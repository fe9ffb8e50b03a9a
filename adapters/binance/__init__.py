"""Binance USDⓈ-M adapter: public REST inside the per-IP weight budget."""

from adapters.binance.public import BinanceError, BinancePublic, PremiumIndex

__all__ = ["BinanceError", "BinancePublic", "PremiumIndex"]
