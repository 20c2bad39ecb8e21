"""Frontends: one module per source format, each turning a model into a `snn.*` Graph."""
