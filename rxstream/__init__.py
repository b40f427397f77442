"""rxstream: a reactive dataflow engine that streams live trading data."""
