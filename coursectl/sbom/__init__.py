"""Software bills of materials: version order, diffs, the licence policy (pure) and where SBOMs are kept."""
