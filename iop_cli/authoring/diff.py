"""`iop rules diff`: what changed between two packs, and how placements move on real intakes before it ships."""

from __future__ import annotations

from iop_cli.pack.model import Alert, Computed, Pack, Placement, Question, Rule


def _question_facts(question: Question) -> dict[str, str]:
    return {
        "type": question.type,
        "label": question.label,
        "choices": ", ".join(question.choice_values),
        "range": f"{question.min}-{question.max}" if question.type in ("integer", "number") else "",
        "required": "yes" if question.required else "no",
        "ask_if": question.ask_if.source if question.ask_if else "",
        "compute": _compute_text(question),
    }


def _compute_text(question: Question) -> str:
    if not isinstance(question, Computed):
        return ""
    compute = question.compute
    if compute.expression is not None:
        return compute.expression.source
    return "; ".join(f"{c.source} -> {v}" for c, v in compute.cases) + f"; otherwise {compute.otherwise}"


def _rule_facts(rule: Rule, position: int) -> dict[str, str]:
    return {
        "when": " ".join(rule.when.source.split()),
        "level": rule.level if isinstance(rule, Placement) else "",
        "alert": rule.alert if isinstance(rule, Alert) else "",
        "severity": rule.severity if isinstance(rule, Alert) else "",
        "because": rule.because,
        "position": str(position),
    }


def _compare(kind: str, old: dict[str, dict[str, str]], new: dict[str, dict[str, str]]) -> list[str]:
    lines = []
    for ident in old.keys() - new.keys():
        lines.append(f"{kind} removed: {ident}")
    for ident in new.keys() - old.keys():
        lines.append(f"{kind} added: {ident}")
    for ident in old.keys() & new.keys():
        for key, before in old[ident].items():
            after = new[ident][key]
            if before != after:
                lines.append(f"{kind} {ident}: {key} {before!r} -> {after!r}")
    return sorted(lines)


def changes(old: Pack, new: Pack) -> list[str]:
    """One line per change to questions, levels, placement rules and alerts."""
    lines = _compare(
        "question",
        {q.id: _question_facts(q) for q in old.questions.values()},
        {q.id: _question_facts(q) for q in new.questions.values()},
    )

    def levels(pack: Pack) -> dict[str, dict[str, str]]:
        return {lv.id: {"name": lv.name, "rank": str(lv.rank), "urgent": str(lv.urgent)} for lv in pack.levels.values()}

    lines += _compare("level", levels(old), levels(new))

    def rules(pack: Pack) -> dict[str, dict[str, str]]:
        placed = {r.id: _rule_facts(r, i + 1) for i, r in enumerate(pack.rules)}
        return {**placed, **{a.id: _rule_facts(a, 0) for a in pack.alerts}}

    lines += _compare("rule", rules(old), rules(new))
    if (old.otherwise.level, old.otherwise.because) != (new.otherwise.level, new.otherwise.because):
        lines.append(f"otherwise: {old.otherwise.level!r} -> {new.otherwise.level!r}")
    return lines


def placement_matrix(old: Pack, new: Pack, intakes: str, map_path: str | None, examples: int = 3) -> str:
    """Score the intakes with both packs and count each (old level -> new level), with example data rows for every
    changed cell."""
    import io

    import polars as pl

    from iop_cli.batch import score as batch
    from iop_cli.batch.mapping import load_mapping

    outcomes = []
    for pack in (old, new):
        mapping = load_mapping(map_path, pack) if map_path else None
        out = io.BytesIO()
        batch.score_file(intakes, out, pack, mapping)
        out.seek(0)
        frame = pl.read_csv(out, infer_schema=False, columns=["level", "status"], raise_if_empty=False)
        outcomes.append(frame)
    before, after = outcomes
    pairs = pl.DataFrame(
        {
            "row": range(1, before.height + 1),
            "old": before["level"].fill_null("error"),
            "new": after["level"].fill_null("error"),
        }
    )
    cells = (
        pairs.group_by("old", "new")
        .agg(pl.len().alias("rows"), pl.col("row").head(examples).alias("examples"))
        .sort("rows", descending=True)
    )
    moved = cells.filter(pl.col("old") != pl.col("new"))
    lines = [f"Placements on {intakes} ({pairs.height} rows): {pairs.height - moved['rows'].sum()} unchanged"]
    if moved.height == 0:
        lines.append("  no placement changes")
    for old_level, new_level, rows, rows_seen in moved.iter_rows():
        shown = ", ".join(str(r) for r in rows_seen)
        lines.append(f"  {old_level} -> {new_level}: {rows} rows (data rows {shown})")
    lines.append("Matrix (rows: old level, columns: new level):")
    table = pairs.pivot(on="new", index="old", values="row", aggregate_function="len").fill_null(0).sort("old")
    header = ["old \\ new", *[c for c in table.columns if c != "old"]]
    lines.append("  " + " | ".join(header))
    for row in table.iter_rows():
        lines.append("  " + " | ".join(str(cell) for cell in row))
    return "\n".join(lines)
