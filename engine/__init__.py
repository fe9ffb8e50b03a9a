"""Venue-agnostic runtime: actors, supervision, bus, Redis store, config, API glue."""
