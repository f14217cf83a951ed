"""The library API: use cases over a loaded configuration. They return objects; they never print or exit."""
