"""Measured scenarios of the provider's token sharing, each next to a naive baseline (``make bench``)."""
