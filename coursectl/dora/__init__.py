"""Pure DORA metric computations over deployments and rollbacks read from the ledger."""

from __future__ import annotations

from coursectl.dora.compute import DoraInputs, classify, compute_dora, effective_statuses
from coursectl.dora.model import Deployment, History, Rollback, Window
from coursectl.dora.stats import median, percentile
from coursectl.dora.tiers import TIER_YEARS, tier_for

__all__ = [
    "TIER_YEARS",
    "Deployment",
    "DoraInputs",
    "History",
    "Rollback",
    "Window",
    "classify",
    "compute_dora",
    "effective_statuses",
    "median",
    "percentile",
    "tier_for",
]
