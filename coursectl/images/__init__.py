"""Image builds: what goes into an image (its inputs digest)."""
