"""Live Dhan option chains: pure core (windows/ATM, skeleton, tick merge, shards, REST schedule).

The pure modules (windows, chain, merge, shards, schedule, inputs) do no I/O, read no clock
(time arrives as ``now_ms``) and never import ``adapters/``: the actors fill the small
input values of ``inputs`` from the Dhan adapter's own types. ``feed_shard`` is an actor.
"""
