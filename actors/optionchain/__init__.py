"""Live Dhan option chains: pure core (windows/ATM, skeleton, tick merge, shards, REST schedule).

The modules here do no I/O and read no clock (time arrives as ``now_ms``); the chain actor
and the feed shard actor drive them. They never import ``adapters/``: the actor fills the
small input values of ``inputs`` from the Dhan adapter's own types.
"""
