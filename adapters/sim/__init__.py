"""Simulated Deribit, Dhan and Binance venues on loopback: the embedded default and test bed."""
