"""Open-interest surveillance of Binance USDT perpetuals: pure core.

``universe`` (liquid universe with ENTER/EXIT hysteresis), ``interval`` (poll interval,
request spreading, weight budget), ``ring`` (bounded per-symbol OI history), ``alerts``
(median baseline, spike/dump rule, cooldown) and ``payloads`` (JSON shapes and strict
ingest validation) do no I/O, read no clock (time arrives as ``now_ms``) and never import
``adapters/``: the actors convert the Binance adapter's values at their edge.
"""
