"""`rules diff --on` scores both packs in one pass (`batch.compare`): its counts and example rows are what scoring
the file with each pack on its own gives, whatever the batches, for packs that differ in questions as well as
rules."""

from __future__ import annotations

import csv
import io
import random
from collections import Counter

import pytest

from iop_cli.batch import read as batch_read
from iop_cli.batch import score as batch
from iop_cli.batch.compare import compare_file
from iop_cli.batch.render import csv_line
from iop_cli.decide.frame import derived_questions
from iop_cli.pack.build import load_pack

from .conftest import ROOT


def varied_file(path, pack, rows: int = 240, seed: int = 3) -> None:
    """Random answers to the pack's questions, mostly safe ones (no, none), some blank, some out of range, and one
    blank row. An instrument's items are left blank (its total is given), so most rows are scored."""
    rng = random.Random(seed)
    items = {name for q in derived_questions(pack) for name in q.derive.names}
    header = [q.id for q in pack.asked]
    lines = [csv_line(header)]
    for n in range(rows):
        cells = []
        for q in pack.asked:
            if q.type == "choice":
                options = list(q.choice_values)
            elif q.type == "multi":
                options = ["", q.choice_values[0], ";".join(q.choice_values[:2])]
            elif q.type == "yesno":
                options = ["yes", "no"]
            elif q.type in ("integer", "number") and q.choices:
                options = [str(c.score) for c in q.choices]
            elif q.type in ("integer", "number"):
                options = [str(int(q.min)), str(rng.randint(int(q.min), min(int(q.max), 40)))]
            else:
                options = [f"C-{n}"]
            safe = [o for o in options if o in ("no", "none")]
            if q.id in items or rng.random() < 0.08:
                cells.append("")
            else:
                cells.append(rng.choice(safe if safe and rng.random() < 0.85 else options))
        if n % 37 == 5:
            cells[header.index("age")] = "200" if "age" in header else cells[0]
        lines.append(csv_line(cells if n != 17 else [""] * len(header)))
    path.write_text("".join(lines), encoding="utf-8", newline="")


def levels_alone(path, pack) -> list[str]:
    out = io.BytesIO()
    batch.score_file(str(path), out, pack, None)
    rows = list(csv.DictReader(io.StringIO(out.getvalue().decode("utf-8"), newline="")))
    return [row["level"] or "error" for row in rows]


def changed_pack(folder):
    """The default pack with the inpatient CIWA-Ar threshold lowered and the IOP rule sending people to php."""
    import shutil

    from iop_cli.pack.build import default_pack_dir

    shutil.copytree(default_pack_dir(), folder)
    rules = folder / "rules.yaml"
    text = rules.read_text(encoding="utf-8").replace("ciwa_ar >= 20)", "ciwa_ar >= 15)", 1)
    text = text.replace(
        "    level: iop\n    because: A mild or moderate", "    level: php\n    because: A mild or moderate"
    )
    rules.write_text(text, encoding="utf-8")
    return load_pack(folder)


@pytest.mark.parametrize("chunk_bytes", [900, 1 << 20], ids=["many-batches", "one-batch"])
@pytest.mark.parametrize("old_pack", ["v1", "default"])
def test_one_pass_counts_what_two_scores_give(tmp_path, monkeypatch, pack, chunk_bytes, old_pack):
    if old_pack == "v1":  # fewer questions, other rules: packs that read the file differently
        old, new = load_pack(ROOT / "tests" / "packs" / "v1"), pack
    else:  # the same questions, two rules changed
        old, new = pack, changed_pack(tmp_path / "changed")
    source = tmp_path / "intakes.csv"
    varied_file(source, pack)
    before, after = levels_alone(source, old), levels_alone(source, new)
    monkeypatch.setattr(batch_read, "CHUNK_BYTES", chunk_bytes)
    moves = compare_file(str(source), (old, None), (new, None), examples=3)
    assert moves.rows == len(before) == 240
    assert moves.pairs == Counter(zip(before, after, strict=True))
    assert len([pair for pair in moves.pairs if pair[0] != pair[1]]) >= 3  # the packs place rows differently
    assert moves.pairs["error", "error"] >= 2  # the blank row and the out-of-range ages
    for pair, rows in moves.examples.items():
        expected = [n + 1 for n, moved in enumerate(zip(before, after, strict=True)) if moved == pair][:3]
        assert rows == expected, pair
