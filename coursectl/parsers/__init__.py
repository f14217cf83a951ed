"""Pure parsers: the output of external tools (Trivy, Snyk, SonarQube) → domain objects."""
