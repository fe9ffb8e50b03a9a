"""Market making per trading pair: pure core.

``params`` (the pair's JSON file, strictly validated), ``ladders`` (book, exchange rules,
near/far quote ladders, crossing filter, position limit), ``refresh`` (the seed's
diff-or-force refresh rule), ``batches`` (place/cancel batches and the order-rate budget)
and ``client_ids`` (unique Binance-valid client order ids) do no I/O, read no clock (time
arrives as ``now_ms``) and never import ``adapters/``: the actor converts the venue's
values at its edge. Prices and quantities are ``decimal.Decimal`` so tick/step rounding is
exact; floats only enter as parameters and are converted through their shortest repr.
"""
