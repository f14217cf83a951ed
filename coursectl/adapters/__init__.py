"""Adapters: I/O with one external system per module; SDK errors are translated here."""
