"""The use cases: the library API the CLI is a thin layer over. They return objects; never print, never exit."""
