"""Security scanning: the pure policy (threshold, unfixed, ignore file) and merging of scanners' findings."""
