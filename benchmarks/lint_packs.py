"""Rule packs that grow, for measuring the lint: each one valid, written into a folder as YAML.

- `thresholds(n)`: the default pack (version 1) plus n integer questions (0-100), each compared with 5 thresholds in 5 rules.
- `copies(n)`: the default pack n times over, every question, computed field and rule copied under new ids. The copies
  are optional questions, since a pack may require at most 62 answers.
- `matrix(n)`: n choice questions of 5 ratings, one rule per rating and dimension (a profile such as the six
  dimensions of an assessment), and nothing else.
- `instrument_sum(items)`: the default pack plus an instrument of `items` items scored 0-3, whose sum one rule reads.
- `instruments()`: the default pack plus three questionnaires (19 items), their totals read at 9 thresholds, and a
  rule that adds two totals.

Used by `benchmarks/lint.py`, and by the tests that compare the lint with its exhaustive reference.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
# The packs grow from version 1 of the default pack (kept as a test fixture), so their figures stay comparable from
# release to release; version 2 of the bundled pack is measured as it is ("default-v2").
DEFAULT = ROOT / "tests" / "packs" / "v1"
BUNDLED = ROOT / "rules" / "default"


def _read(folder: Path, name: str) -> dict[str, Any]:
    return yaml.safe_load((folder / name).read_text(encoding="utf-8")) or {}


class _NoAliases(yaml.SafeDumper):
    """Packs refuse YAML anchors and aliases, so shared values (a copy's choices) are written out in full."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _write(folder: Path, name: str, data: dict[str, Any]) -> None:
    text = yaml.dump(data, Dumper=_NoAliases, sort_keys=False, allow_unicode=True)
    (folder / name).write_text(text, encoding="utf-8")


def _default_copy(folder: Path) -> Path:
    shutil.copytree(DEFAULT, folder)
    return folder


def _add_rules(folder: Path, rules: list[dict[str, Any]]) -> None:
    """Place new level rules after the default's own and before its `otherwise`."""
    data = _read(folder, "rules.yaml")
    data["rules"] = [*data["rules"], *rules]
    _write(folder, "rules.yaml", data)


def thresholds(folder: Path, n: int) -> Path:
    _default_copy(folder)
    questions = _read(folder, "questions.yaml")
    levels = ["outpatient", "iop", "php", "residential", "clinician_review"]
    rules = []
    for i in range(n):
        qid = f"scale_{i}"
        questions["questions"].append({"id": qid, "type": "integer", "label": f"Scale {i}", "min": 0, "max": 100})
        for k, level in enumerate(levels):
            rules.append(
                {
                    "id": f"{qid}_at_{20 * (k + 1)}",
                    "when": f"{qid} >= {20 * (k + 1)}",
                    "level": level,
                    "because": f"Scale {i} is at least {20 * (k + 1)}.",
                }
            )
    _write(folder, "questions.yaml", questions)
    _add_rules(folder, rules)
    return folder


def copies(folder: Path, n: int) -> Path:
    _default_copy(folder)
    questions = _read(folder, "questions.yaml")
    rules = _read(folder, "rules.yaml")
    ids = [q["id"] for q in questions["questions"]]
    word = re.compile(r"\b(" + "|".join(map(re.escape, ids)) + r")\b")

    def renamed(text: str, suffix: str) -> str:
        # Quoted words (choice values) keep their spelling; field names outside quotes get the copy's suffix.
        parts = re.split(r"('[^']*'|\"[^\"]*\")", text)
        return "".join(p if p[:1] in "'\"" else word.sub(lambda m: m.group(1) + suffix, p) for p in parts)

    originals_q, originals_r = list(questions["questions"]), list(rules["rules"])
    for copy in range(1, n):
        suffix = f"_c{copy}"
        for q in originals_q:
            c = {**q, "id": q["id"] + suffix}
            c.pop("aliases", None)
            for key in ("ask_if", "compute"):
                if isinstance(c.get(key), str):
                    c[key] = renamed(c[key], suffix)
                elif isinstance(c.get(key), list):
                    c[key] = [{k: renamed(v, suffix) if k == "when" else v for k, v in case.items()} for case in c[key]]
            if "compute" not in c:
                c["required"] = False
            questions["questions"].append(c)
        for r in originals_r:
            rules["rules"].append({**r, "id": r["id"] + suffix, "when": renamed(r["when"], suffix)})
    # Urgent rules must all come first: order the rules by whether their level is urgent, keeping their order.
    levels = {lv["id"]: lv for lv in _read(folder, "levels.yaml")["levels"]}
    rules["rules"].sort(key=lambda r: 0 if "level" in r and levels[r["level"]].get("urgent") else 1)
    _write(folder, "questions.yaml", questions)
    _write(folder, "rules.yaml", rules)
    (folder / "tests.yaml").unlink()  # the default's own tests do not answer the copies
    return folder


def matrix(folder: Path, n: int) -> Path:
    folder.mkdir(parents=True)
    ratings = ["r1", "r2", "r3", "r4", "r5"]
    pack: dict[str, Any] = {
        "pack": {"name": f"matrix-{n}", "version": "1"},
        "questions": [
            {"id": f"dim_{j}", "type": "choice", "label": f"Dimension {j}", "choices": list(ratings)} for j in range(n)
        ],
        "levels": [{"id": f"level_{k}", "name": f"Level {k}", "rank": 10 * k} for k in range(1, 6)]
        + [{"id": "review", "name": "Review", "rank": 0}],
        "rules": [
            {
                "id": f"dim_{j}_{rating}",
                "when": f"dim_{j} == '{rating}'",
                "level": f"level_{k}",
                "because": f"Dimension {j} is rated {rating}.",
            }
            for k, rating in sorted(enumerate(ratings, start=1), reverse=True)
            for j in range(n)
        ],
        "otherwise": {"level": "review", "because": "No rule fits."},
    }
    _write(folder, "pack.yaml", pack)
    return folder


def instrument_sum(folder: Path, items: int = 9) -> Path:
    _default_copy(folder)
    questions = _read(folder, "questions.yaml")
    ids = [f"item_{i}" for i in range(1, items + 1)]
    for qid in ids:
        questions["questions"].append({"id": qid, "type": "integer", "label": qid, "min": 0, "max": 3})
    questions["questions"].append(
        {
            "id": "item_total",
            "type": "integer",
            "label": "Total",
            "min": 0,
            "max": 3 * items,
            "compute": " + ".join(ids),
        }
    )
    _write(folder, "questions.yaml", questions)
    _add_rules(
        folder,
        [
            {
                "id": "item_total_high",
                "when": f"item_total >= {2 * items}",
                "level": "php",
                "because": "The instrument's total is high.",
            }
        ],
    )
    return folder


def instruments(folder: Path) -> Path:
    """The default pack plus three questionnaires scored from their items (9, 7 and 3 items), whose totals rules
    read at several thresholds, and one rule that adds two totals together."""
    _default_copy(folder)
    questions = _read(folder, "questions.yaml")
    scales = {"phq": (9, 3, [5, 10, 15, 20]), "gad": (7, 3, [5, 10, 15]), "audit": (3, 4, [4, 8])}
    rules = []
    levels = ["outpatient", "iop", "php", "residential"]
    for name, (count, top, cuts) in scales.items():
        ids = [f"{name}_{i}" for i in range(1, count + 1)]
        for qid in ids:
            questions["questions"].append({"id": qid, "type": "integer", "label": qid, "min": 0, "max": top})
        questions["questions"].append(
            {
                "id": f"{name}_total",
                "type": "integer",
                "label": f"{name} total",
                "min": 0,
                "max": count * top,
                "compute": " + ".join(ids),
            }
        )
        for cut, level in zip(reversed(cuts), reversed(levels), strict=False):
            rules.append(
                {
                    "id": f"{name}_at_{cut}",
                    "when": f"{name}_total >= {cut}",
                    "level": level,
                    "because": f"The {name} total is at least {cut}.",
                }
            )
    rules.insert(0, {"id": "mood_and_anxiety", "when": "phq_total + gad_total >= 30", "level": "php", "because": "x"})
    _write(folder, "questions.yaml", questions)
    _add_rules(folder, rules)
    return folder


# name -> (what it is, builder)
PACKS = {
    "default": ("the default pack, version 1", lambda folder: _default_copy(folder)),
    "default-v2": (
        "the default pack, version 2 (instruments included)",
        lambda folder: shutil.copytree(BUNDLED, folder),
    ),
    "thresholds-1": ("default + 1 integer question, 5 thresholds", lambda folder: thresholds(folder, 1)),
    "thresholds-2": ("default + 2 such questions", lambda folder: thresholds(folder, 2)),
    "thresholds-3": ("default + 3 such questions", lambda folder: thresholds(folder, 3)),
    "thresholds-5": ("default + 5 such questions", lambda folder: thresholds(folder, 5)),
    "thresholds-10": ("default + 10 such questions", lambda folder: thresholds(folder, 10)),
    "copies-2": ("the default twice over", lambda folder: copies(folder, 2)),
    "copies-4": ("the default four times over", lambda folder: copies(folder, 4)),
    "copies-6": ("the default six times over", lambda folder: copies(folder, 6)),
    "matrix-8": ("8 dimensions x 5 ratings", lambda folder: matrix(folder, 8)),
    "matrix-10": ("10 dimensions x 5 ratings", lambda folder: matrix(folder, 10)),
    "matrix-20": ("20 dimensions x 5 ratings", lambda folder: matrix(folder, 20)),
    "sum-9": ("default + a 9-item sum read by one rule", lambda folder: instrument_sum(folder, 9)),
    "instruments": ("default + 9-, 7- and 3-item totals, 9 thresholds, 2 totals added", instruments),
}
