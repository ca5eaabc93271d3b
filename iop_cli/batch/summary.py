"""Batch scoring: the summary of a run (rows, status, levels, top errors and review reasons)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Summary:
    rows: int = 0
    status: Counter = field(default_factory=Counter)
    levels: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    review_reasons: Counter = field(default_factory=Counter)
    not_in_file: list[str] = field(default_factory=list)
    seconds: float = 0.0
