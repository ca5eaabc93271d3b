"""The pack's shapes are declared once (`iop_cli/pack/spec.py`): the loader checks entries against them and the
JSON Schema is generated from them. These tests hold the loader to every declared shape: an unknown key is refused
with exactly the declared keys as the hint, and every required key is reported when it is left out."""

from __future__ import annotations

import pytest

from iop_cli.pack import spec
from iop_cli.pack.build import default_pack_dir, load_pack
from iop_cli.problems import PackError

# Where each shape stands in a pack folder: the file, and text that opens one entry of it.
ENTRIES = {
    "a question": (spec.QUESTION, "questions.yaml", "questions:\n  - id: extra_q\n    type: yesno\n    label: Extra\n"),
    "a level": (spec.LEVEL, "levels.yaml", "levels:\n  - id: extra_level\n    name: Extra\n"),
    "a rule": (
        spec.RULE,
        "rules.yaml",
        "rules:\n  - id: extra_rule\n    when: 'false'\n    because: x\n    alert: y\n",
    ),
}


def put(folder, what: str, entry: str) -> None:
    """Add `entry` to the pack: in a file of its own, or (rules, which one file holds) before `otherwise`."""
    if what != "a rule":
        (folder / "extra.yaml").write_text(entry, encoding="utf-8")
        return
    original = (default_pack_dir() / "rules.yaml").read_text(encoding="utf-8")
    body = entry.split("\n", 1)[1]
    (folder / "rules.yaml").write_text(
        original.replace("\notherwise:", "\n" + body + "\notherwise:", 1), encoding="utf-8"
    )


def load_problems(folder) -> list[str]:
    with pytest.raises(PackError) as caught:
        load_pack(folder)
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize("what", sorted(ENTRIES))
def test_an_unknown_key_is_refused_with_the_declared_keys(pack_copy, what):
    shape, name, entry = ENTRIES[what]
    put(pack_copy, what, entry + "    zzz_unknown: 1\n")
    (found,) = [p for p in load_problems(pack_copy) if "zzz_unknown" in p]
    assert f"unknown key `zzz_unknown` in {what}" in found
    assert found.endswith("(allowed keys: " + ", ".join(shape.names) + ")")


@pytest.mark.parametrize("what", sorted(ENTRIES))
def test_every_declared_key_is_known_to_the_loader(pack_copy, what):
    shape, name, entry = ENTRIES[what]
    put(pack_copy, what, entry)
    load_pack(pack_copy)  # the entry as written loads
    for key in shape.names:
        put(pack_copy, what, entry + f"    {key}: 1\n" if f" {key}:" not in entry else entry)
        try:
            load_pack(pack_copy)
        except PackError as exc:  # a wrong value is fine here; an unknown key is not
            assert not [p for p in exc.problems if "unknown key" in str(p)], (key, exc.problems)


@pytest.mark.parametrize("what", sorted(ENTRIES))
def test_every_required_key_is_required_by_the_loader(pack_copy, what):
    shape, name, entry = ENTRIES[what]
    lines = entry.splitlines()
    for key in shape.required:
        if key == "id":
            continue  # an entry without an id cannot be named; the loader skips it after saying what is missing
        kept = [line for line in lines if not line.strip().startswith(f"{key}:")]
        put(pack_copy, what, "\n".join(kept) + "\n")
        assert any(f"{what} is missing `{key}`" in p for p in load_problems(pack_copy)), key


def test_the_schema_is_generated_from_the_same_declarations():
    schema = spec.pack_schema()
    questions, include = schema["properties"]["questions"]["items"]["oneOf"]
    assert list(include["properties"]) == list(spec.INCLUDE.names)
    assert list(questions["properties"]) == list(spec.QUESTION.names)
    assert questions["required"] == list(spec.QUESTION.required)
    assert list(schema["properties"]) == list(spec.FILE.names)
    assert schema["properties"]["rules"]["items"]["required"] == list(spec.RULE.required)


def test_steps_between_levels_of_care_leave_clinician_review_out():
    from iop_cli.pack.build import load_pack

    pack = load_pack()
    assert pack.steps("iop", "outpatient") == -1 and pack.steps("php", "outpatient") == -2
    assert pack.steps("iop", "residential") == 2 and pack.steps("crisis", "inpatient") == -1
    assert pack.steps("clinician_review", "outpatient") == 0 and pack.steps("iop", "clinician_review") == 0
