"""Batch scoring: the summary of a run (rows, status, levels, top errors and review reasons), counted batch by batch
as the batches are scored (in two threads at once) and turned into texts once at the end."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from iop_cli.decide import policy
from iop_cli.decide.frame import Outcome
from iop_cli.pack.model import Pack

ERROR_ROWS_SHOWN = 10  # the positions of the first rows with a problem, in the summary


@dataclass
class Summary:
    rows: int = 0
    status: Counter = field(default_factory=Counter)
    levels: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    review_reasons: Counter = field(default_factory=Counter)
    review_ranges: Counter = field(default_factory=Counter)  # (least, most intensive level possible) -> rows
    not_in_file: list[str] = field(default_factory=list)
    missing: Counter = field(default_factory=Counter)  # each required answer missing -> rows (any status)
    alerts: Counter = field(default_factory=Counter)  # each alert -> rows
    error_rows: list[int] = field(default_factory=list)  # where the first rows with a problem are
    counted_as: str = "line"  # what `error_rows` counts: lines, sheet rows or data rows
    seconds: float = 0.0


class Tally:
    """Counts each batch's distinct outcome codes and problem kinds; `finish` makes the summary's texts, once per
    code rather than once per row."""

    def __init__(self, pack: Pack, outcome: Outcome, not_in_file: list[str]):
        self.pack = pack
        self.outcome = outcome
        self.summary = Summary(not_in_file=not_in_file)
        self.codes: Counter = Counter()
        self.alert_masks: Counter = Counter()
        self.missing_masks: Counter = Counter()
        self.lock = threading.Lock()

    def add(
        self,
        pairs: list[tuple[int | None, int | None, int]],
        kinds: list[tuple[str, int]],
        missing: Sequence[tuple[int, int]] = (),
    ) -> None:
        """A batch's (outcome code, alert mask, rows) pairs (code None: a row with a problem), problem kinds, and
        (missing-answer mask, rows) pairs."""
        with self.lock:  # batches may be scored in two threads at once
            summary = self.summary
            for code, mask, n in pairs:
                summary.rows += n
                if code is None:
                    summary.status["error"] += n
                else:
                    self.codes[code, self.outcome.provisional(mask or 0)] += n
                    if mask:
                        self.alert_masks[mask] += n
            for mask, n in missing:
                if mask:
                    self.missing_masks[mask] += n
            for kind, n in kinds:
                summary.errors[kind] += n

    def finish(self) -> Summary:
        summary = self.summary
        for (code, provisional), n in self.codes.items():
            level, _, reason = self.outcome.texts(code)
            summary.levels[level] += n
            status = policy.status(self.pack, level, provisional)
            summary.status[status] += n
            review = status == "review"
            if review and code < 0:
                # Missing answers: count each missing field, which says what to collect; the full reason is long.
                for name in self.outcome.missing(code):
                    summary.review_reasons[f"missing answer: {name}"] += n
                least, most, _ = self.outcome.reach_texts(code)
                summary.review_ranges[least, most] += n
            elif review:
                summary.review_reasons[reason] += n
        for mask, n in self.alert_masks.items():
            for alert in (self.outcome.alert_text(mask) or "").split(";"):
                summary.alerts[alert] += n
        for mask, n in self.missing_masks.items():
            for name in (self.outcome.missing_text(mask) or "").split(";"):
                summary.missing[name] += n
        if not summary.status["error"]:
            del summary.status["error"]
        return summary
