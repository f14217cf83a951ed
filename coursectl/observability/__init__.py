"""Observability as code: SLO burn-rate rules, plain alerts, promtool tests, Alertmanager, dashboards, logs."""
