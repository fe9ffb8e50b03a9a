"""Deribit adapter: public JSON-RPC over HTTP (index prices)."""

from adapters.deribit.rest import DeribitError, DeribitRest, IndexQuote

__all__ = ["DeribitError", "DeribitRest", "IndexQuote"]
