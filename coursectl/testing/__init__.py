"""Fakes shipped with the package for use-case and CLI tests."""
