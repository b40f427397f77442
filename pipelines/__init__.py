"""The pipelines that ship with rxstream: prices, portfolio, signals, trades and an example evaluator."""
