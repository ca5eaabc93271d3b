"""Loading a rule pack: YAML files in, a checked `Pack` out, with every problem found reported at file:line:col.

A pack is a folder of YAML files. Each file is a mapping whose top-level keys are among `pack`, `sections`,
`questions`, `levels`, `rules`, `otherwise`, `fixtures` and `tests`. Loading checks everything once and keeps
positions so later errors can point back at the source.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

from iop_cli.lang import expr
from iop_cli.lang.tree import bounds_of
from iop_cli.lang.walk import missing_tested
from iop_cli.pack import spec
from iop_cli.pack.model import (
    MAX_ALERTS,
    MAX_REQUIRED,
    Alert,
    Allowance,
    Asked,
    Choice,
    Compute,
    Computed,
    Dimension,
    Level,
    Otherwise,
    Pack,
    Placement,
    Question,
    Rating,
    Section,
    TestCase,
)
from iop_cli.pack.source import Src
from iop_cli.problems import Mark, PackError, Problem, ProblemsError, did_you_mean


def default_pack_dir() -> Path:
    """The bundled default pack: inside the installed package, or `rules/default` in a source checkout."""
    here = Path(__file__).resolve().parents[1]  # iop_cli/
    for candidate in (here / "rules" / "default", here.parent / "rules" / "default"):
        if candidate.is_dir():
            return candidate
    raise PackError([Problem(str(here), "the bundled default pack is missing", "reinstall iop-cli")])


def load_pack(path: str | Path | None = None) -> Pack:
    """Load and check a pack folder; raise PackError listing every problem found."""
    folder = Path(path) if path is not None else default_pack_dir()
    if not folder.exists():
        raise PackError(
            [Problem(str(folder), "no such rule-pack folder", "give the path of a folder of YAML pack files")]
        )
    files = sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml")) if folder.is_dir() else [folder]
    if not files:
        raise PackError([Problem(str(folder), "the folder holds no .yaml files", "a pack needs at least pack.yaml")])
    return _Loader(folder, files).load()


BUNDLED = "iop:"  # `include: iop:instruments/phq9.yaml` names a module that ships with iop-cli


def _module_path(including: Path, target: str) -> Path:
    """Where an include points: a module bundled with iop-cli (`iop:instruments/NAME.yaml`, so a copy of the default
    pack keeps working anywhere), or a path relative to the including file."""
    if target.startswith(BUNDLED):
        return (default_pack_dir().parent / target[len(BUNDLED) :]).resolve()
    return (including.parent / target).resolve()


class _Loader:
    def __init__(self, folder: Path, files: list[Path]):
        self.folder = folder
        self.files = files
        self.problems: list[Problem] = []
        self.texts: dict[str, list[str]] = {}
        self.included: dict[Path, Mark] = {}  # module files read, and where each was included
        self.scope: dict[int, Src] = {}  # a module question (by id() of its entry) -> its include's `ask_if`
        self.scoped: dict[str, Src] = {}  # the same, by question id
        self.ids: dict[str, Mark] = {}  # the one id space of sections, questions, levels, rules and dimensions

    # -- helpers -----------------------------------------------------------------------------------------------

    def problem(self, mark: Mark | Path | str, message: str, hint: str = "") -> None:
        self.problems.append(Problem(str(mark), message, hint))

    def mapping(self, src: Src, what: str, allowed: tuple[str, ...], required: tuple[str, ...] = ()) -> dict | None:
        if not isinstance(src.value, dict):
            self.problem(src.mark, f"{what} must be a mapping of keys to values", f"allowed keys: {', '.join(allowed)}")
            return None
        for key, mark in src.keys.items():
            if key not in allowed:
                hint = did_you_mean(key, allowed) or f"allowed keys: {', '.join(allowed)}"
                self.problem(mark, f"unknown key `{key}` in {what}", hint)
        for key in required:
            if key not in src.value:
                self.problem(src.mark, f"{what} is missing `{key}`")
        return src.value

    def listing(self, src: Src | None, what: str) -> list[Src]:
        if src is None:
            return []
        if not isinstance(src.value, list):
            self.problem(src.mark, f"{what} must be a list (items start with `- `)")
            return []
        return src.value

    def shaped(self, src: Src, what: str, shape: spec.Shape) -> dict | None:
        """`src` as a mapping of the declared shape (unknown and missing keys reported), or None."""
        return self.mapping(src, what, shape.names, shape.required)

    def entries(self, srcs: list[Src], key: str, what: str, shape: spec.Shape, ids: dict[str, Mark]):
        """Each well-formed item of the lists under a top-level key: (item, its keys, its unique id)."""
        for block in srcs:
            for item in self.listing(block, key):
                values = self.shaped(item, what, shape)
                if values is None:
                    continue
                ident = self.ident(values, what, ids)
                if ident:
                    yield item, values, ident

    def text(self, values: dict, key: str, what: str, default: str = "") -> str:
        src = values.get(key)
        if src is None:
            return default
        if isinstance(src.value, bool) or not isinstance(src.value, (str, int, float)):
            self.problem(src.mark, f"`{key}` of {what} must be text")
            return default
        return str(src.value).strip()

    def ident(self, values: dict, what: str, seen: dict[str, Mark]) -> str | None:
        src = values.get("id")
        if src is None:
            return None
        ident = src.value
        if not isinstance(ident, str) or not ident.isidentifier() or not ident.isascii():
            self.problem(src.mark, f"the id of {what} must be a word of letters, digits and _", "e.g. housing_status")
            return None
        if ident in expr.RESERVED:
            self.problem(src.mark, f"`{ident}` is a reserved word and cannot be an id", f"try `{ident}_answer`")
            return None
        if ident in seen:
            self.problem(src.mark, f"duplicate id `{ident}`", f"it is already used at {seen[ident]}")
            return None
        seen[ident] = src.mark
        return ident

    def flag(self, values: dict, key: str, what: str, default: bool) -> bool:
        src = values.get(key)
        if src is None:
            return default
        if not isinstance(src.value, bool):
            self.problem(src.mark, f"`{key}` of {what} must be true or false")
            return default
        return src.value

    def strings(self, values: dict, key: str, what: str) -> tuple[str, ...]:
        src = values.get(key)
        if src is None:
            return ()
        items = src.value if isinstance(src.value, list) else None
        if items is None or any(not isinstance(i.value, str) for i in items):
            self.problem(src.mark, f"`{key}` of {what} must be a list of text lines")
            return ()
        return tuple(i.value.strip() for i in items)

    def expr_mark(self, src: Src, col: int) -> Mark:
        """Where column `col` of an expression's text stands in its file."""
        if src.block:
            # Literal (|) and folded (>) blocks both join their lines with one character, so walk the source
            # lines below the indicator, counting each line's content plus one separator.
            lines = self.texts.get(src.mark.file, [])
            consumed = 0
            for index in range(src.mark.line, len(lines)):
                raw = lines[index]
                content = raw.strip()
                if not content:
                    continue
                if col <= consumed + len(content):
                    indent = len(raw) - len(raw.lstrip(" "))
                    return Mark(src.mark.file, index + 1, indent + (col - consumed) + 1)
                consumed += len(content) + 1
            return src.mark
        text = str(src.value)
        if "\n" in text[:col]:
            return src.mark  # a plain multi-line scalar is folded by YAML; its start is the best we can do
        return Mark(src.mark.file, src.mark.line, src.mark.col + col + (1 if src.quoted else 0))

    def parse_expr(self, src: Src, fields, want: str | None = "bool") -> expr.Expr | None:
        if isinstance(src.value, bool):
            # YAML reads a bare yes/no/true/false as a boolean; accept it as the constant condition it spells.
            src = Src("true" if src.value else "false", src.mark)
        if not isinstance(src.value, (str, int, float)):
            self.problem(src.mark, "a condition must be text, like `age >= 18`")
            return None
        try:
            return expr.parse(str(src.value), fields, want)
        except expr.ExprError as exc:
            self.problem(self.expr_mark(src, exc.col), exc.message, exc.hint)
            return None

    # -- the pack ----------------------------------------------------------------------------------------------

    def check_limits(self, questions: dict[str, Question], alerts: list[Alert]) -> None:
        required = sum(1 for q in questions.values() if q.required and not q.computed)
        if required > MAX_REQUIRED:
            self.problem(
                self.folder,
                f"the pack has {required} required questions; at most {MAX_REQUIRED} are allowed",
                "make some questions optional (`required: false`), or split the pack",
            )
        if len(alerts) > MAX_ALERTS:
            self.problem(
                self.folder,
                f"the pack has {len(alerts)} alerts; at most {MAX_ALERTS} are allowed",
                "merge alerts that say the same thing, or split the pack",
            )

    def load(self) -> Pack:
        """The stages, in order. Each reports every problem it finds; a stage whose input is broken stops the load
        before the next, so one mistake is not reported again as the absences it causes."""
        blocks, digest = self.read_sources()  # 1. YAML with positions, gathered by top-level key, and the hash
        if self.problems:
            raise PackError(self.problems)
        pack = self.entries_and_ids(blocks, digest)  # 2. each entry's shape, one id space, and its conditions
        self.check_order(pack.rules, pack.levels)  # 3. rule order (urgent rules first) and the pack's limits
        self.check_limits(pack.questions, pack.alerts)
        pack.profile = self.profile(blocks["profile"], pack, self.ids)  # 4. the profile and the lint settings
        pack.lint_allow = self.lint(blocks["lint"], pack)
        if not self.problems:
            pack.tests = self.tests(blocks["fixtures"], blocks["tests"], pack)  # 5. test cases, against the pack
        if self.problems:
            raise PackError(self.problems)
        return pack

    def read_sources(self) -> tuple[dict[str, list[Src]], str]:
        """Every file read once (noted, so no output of this command lands on it), hashed, parsed with positions,
        and split by top-level key; a key that only one file may hold is refused from a second. Module files that
        a `questions:` list includes are read in its place."""
        blocks: dict[str, list[Src]] = {key: [] for key in spec.FILE.names}
        where: dict[str, Mark] = {}
        digest = hashlib.sha256()
        for path in self.files:
            doc = self.read_file(path, path.name, digest)
            if doc is None:
                continue
            top = self.shaped(doc, f"the file {path.name}", spec.FILE)
            if top and "module" in top:
                self.problem(
                    doc.keys["module"],
                    f"{path.name} is a module file, which a pack includes; it is not a file of the pack itself",
                    "move it out of the pack folder and include it: `questions: [{include: FILE}]`",
                )
                continue
            for key, value in (top or {}).items():
                if key not in spec.FILE.names:
                    continue
                if key in spec.SINGLE_KEYS and key in where:
                    self.problem(doc.keys[key], f"`{key}` is already given at {where[key]}", "keep it in one file")
                    continue
                where[key] = doc.keys[key]
                if key == "questions":
                    value = self.splice(value, path, blocks, digest)
                blocks[key].append(value)
        return blocks, digest.hexdigest()

    def read_file(self, path: Path, label: str, digest) -> Src | None:
        """One YAML file read once (noted, so no output lands on it), hashed under `label`, parsed with positions."""
        from iop_cli.files import note_read
        from iop_cli.pack import source

        name = str(path)
        try:
            with open(path, "rb") as handle:
                note_read(handle.fileno())
                raw = handle.read()
            text = raw.decode("utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            self.problem(name, f"cannot read the file: {exc}", "save it as UTF-8 text")
            return None
        digest.update(label.encode() + b"\0" + raw + b"\0")
        self.texts[name] = text.splitlines()
        try:
            return source.load(text, name)
        except ProblemsError as exc:
            self.problems.extend(exc.problems)
            return None

    def splice(self, block: Src, path: Path, blocks: dict[str, list[Src]], digest) -> Src:
        """A `questions:` list with each `- include: FILE` entry replaced by the module's questions, in place, so the
        interview asks them there; the module's sections, fixtures and tests join the pack's."""
        if not isinstance(block.value, list):
            return block
        items: list[Src] = []
        for item in block.value:
            if not (isinstance(item.value, dict) and "include" in item.value):
                items.append(item)
                continue
            values = self.shaped(item, "an include", spec.INCLUDE)
            target = self.text(values or {}, "include", "an include")
            if not target:
                continue
            module = _module_path(path, target)
            if module in self.included:
                self.problem(item.keys["include"], f"{target} is already included at {self.included[module]}")
                continue
            self.included[module] = item.keys["include"]
            doc = self.read_file(module, "include:" + module.name, digest)
            if doc is None:
                continue
            top = self.mapping(doc, f"the module {module.name}", spec.MODULE_KEYS, ("module",))
            if top is None:
                continue
            meta = self.shaped(top["module"], "module", spec.MODULE) if "module" in top else None
            if meta is not None:
                for key in spec.MODULE.names:
                    self.text(meta, key, "module")
            for key in ("sections", "fixtures", "tests"):
                if key in top:
                    blocks[key].append(top[key])
            for entry in self.listing(top.get("questions"), f"the questions of {module.name}"):
                if isinstance(entry.value, dict) and "include" in entry.value:
                    self.problem(entry.mark, "a module cannot include another module", "include both from the pack")
                    continue
                if values and "ask_if" in values:
                    self.scope[id(entry)] = values["ask_if"]
                items.append(entry)
        return Src(items, block.mark, block.keys)

    def entries_and_ids(self, blocks: dict[str, list[Src]], digest: str) -> Pack:
        """The pack's entries, each checked against its declared shape, with one id space for sections, questions,
        levels and rules; each condition is checked against the fields placed before it."""
        meta = self.pack_meta(blocks["pack"])
        ids: dict[str, Mark] = {}
        section_map = self.sections(blocks["sections"], ids)
        questions = self.questions(blocks["questions"], section_map, ids)
        levels = self.levels(blocks["levels"], ids)
        rules, alerts = self.rules(blocks["rules"], questions, levels, ids)
        otherwise = self.otherwise(blocks["otherwise"], levels)
        if otherwise is None and not blocks["otherwise"]:
            self.problem(
                self.folder, "the pack has no `otherwise`", "add `otherwise: {level: clinician_review, because: ...}`"
            )
        self.ids = ids  # the profile's dimensions share this id space (their ids become output columns)
        return Pack(
            name=meta.get("name", self.folder.name),
            version=meta.get("version", "0"),
            description=meta.get("description", ""),
            path=self.folder,
            hash=digest,
            sections=section_map,
            questions=questions,
            levels=levels,
            rules=rules,
            alerts=alerts,
            otherwise=otherwise or Otherwise("", ""),
        )

    def pack_meta(self, srcs: list[Src]) -> dict[str, str]:
        if not srcs:
            self.problem(self.folder, "the pack has no `pack:` block", "add `pack: {name: my-pack, version: '1.0'}`")
            return {}
        values = self.shaped(srcs[0], "pack", spec.PACK)
        if values is None:
            return {}
        return {key: self.text(values, key, "pack") for key in spec.PACK.names if key in values}

    def sections(self, srcs: list[Src], ids: dict[str, Mark]) -> dict[str, Section]:
        result: dict[str, Section] = {}
        for _item, values, ident in self.entries(srcs, "sections", "a section", spec.SECTION, ids):
            result[ident] = Section(
                ident, self.text(values, "title", "a section"), self.text(values, "help", "a section")
            )
        return result

    # -- questions ---------------------------------------------------------------------------------------------

    def questions(self, srcs: list[Src], sections: dict[str, Section], ids: dict[str, Mark]) -> dict[str, Question]:
        result: dict[str, Question] = {}
        raw: dict[str, dict] = {}
        for item, values, ident in self.entries(srcs, "questions", "a question", spec.QUESTION, ids):
            question = self.question(ident, item, values, sections)
            if question is not None:
                result[ident] = question
                raw[ident] = values
                if id(item) in self.scope:
                    self.scoped[ident] = self.scope[id(item)]
        self.question_expressions(result, raw)
        return result

    def question(self, ident: str, item: Src, values: dict, sections: dict[str, Section]) -> Question | None:
        what = f"question `{ident}`"
        qtype = self.text(values, "type", what)
        if qtype not in spec.QUESTION_TYPES:
            src = values.get("type", item)
            hint = did_you_mean(qtype, spec.QUESTION_TYPES) or "use one of: " + ", ".join(spec.QUESTION_TYPES)
            self.problem(src.mark, f"unknown question type `{qtype}` for {what}", hint)
            return None
        label, help = self.text(values, "label", what), self.text(values, "help", what)
        question: Question
        if "compute" in values:  # never asked: its compute is checked with the other conditions, below
            question = Computed(ident, qtype, label, item.mark, help=help)
        else:
            # A multi-select question is never missing: unanswered is the empty selection.
            required = self.flag(values, "required", what, qtype != "multi")
            if qtype == "multi" and required:
                self.problem(
                    values["required"].mark,
                    f"{what} is a multi-select: unanswered means none of its choices, so it cannot be required",
                    "remove `required`",
                )
            question = Asked(ident, qtype, label, item.mark, help=help, required=required)
        question.aliases = self.strings(values, "aliases", what)
        if "section" in values:
            section = self.text(values, "section", what)
            if section not in sections:
                hint = did_you_mean(section, sections) or "declare it under `sections:`"
                self.problem(values["section"].mark, f"unknown section `{section}` in {what}", hint)
            question.section = section
        if qtype in ("choice", "multi"):
            question.choices = self.choices(values.get("choices"), item, what)
        elif qtype == "integer" and "choices" in values:
            question.choices = self.scored_choices(values["choices"], what)
            if any(key in values for key in ("min", "max")):
                self.problem(values["choices"].mark, f"{what} takes its range from its choices' scores; drop min/max")
            if question.choices:
                question.min, question.max = min(question.scores), max(question.scores)
        elif "choices" in values:
            self.problem(
                values["choices"].mark,
                f"{what} has choices but is of type {qtype}",
                "use type: choice, or type: integer with a `score` on each choice",
            )
        if "compute" in values and "required" in values:
            self.problem(values["required"].mark, f"{what} is computed, so it is never asked and cannot be required")
        if "compute" in values and "derive" in values:
            self.problem(
                values["derive"].mark,
                f"{what} has both `compute` and `derive`",
                "`compute` is never asked; `derive` is asked and may also come from other answers: keep one",
            )
        question.says = self.says(values.get("says"), qtype, question.choices, what)
        question.bands = self.bands(values.get("bands"), qtype, what)
        question.can_change = self.flag(values, "can_change", what, False)
        question.confirm_enter = self.flag(values, "confirm_enter", what, True)
        if question.scores:
            return question  # its range is its scores'; a min or max given as well is reported above
        for key in ("min", "max"):
            if key not in values:
                continue
            src = values[key]
            if qtype not in expr.NUMERIC:
                self.problem(src.mark, f"`{key}` only applies to integer and number questions, not to {what}")
            elif isinstance(src.value, bool) or not isinstance(src.value, (int, float)):
                self.problem(src.mark, f"`{key}` of {what} must be a number")
            elif qtype == "integer" and not float(src.value).is_integer():
                self.problem(src.mark, f"`{key}` of the integer {what} must be a whole number")
            else:
                setattr(question, key, src.value)
        if question.min is not None and question.max is not None and question.min > question.max:
            self.problem(values["min"].mark, f"`min` is above `max` in {what}", "swap them")
        return question

    def says(self, src: Src | None, qtype: str, choices: tuple[Choice, ...], what: str) -> dict[str, str]:
        """`says`: how a reason states the answer. Yes/no: `{yes: TEXT, no: TEXT}`; a choice: a text per choice,
        or like any other type one text where `{answer}` stands for the answer."""
        if src is None:
            return {}
        if isinstance(src.value, dict) and qtype in ("yesno", "choice"):
            answers = ["yes", "no"] if qtype == "yesno" else [c.value for c in choices]
            texts = src.value
            found = {k: v.value for k, v in texts.items() if isinstance(v.value, str) and v.value.strip()}
            if set(found) != set(answers) or len(texts) != len(answers):
                hint = "{" + ", ".join(f"{a}: ..." for a in answers) + "}"
                self.problem(src.mark, f"`says` of {what} needs a text for each answer, and nothing else", hint)
                return {}
            return {k: v.strip() for k, v in found.items()}
        if qtype == "yesno":
            self.problem(src.mark, f"`says` of the yes/no {what} needs a text for each answer", "{yes: ..., no: ...}")
            return {}
        if not isinstance(src.value, str) or "{answer}" not in src.value:
            self.problem(src.mark, f"`says` of {what} must be a text with {{answer}} in it", "e.g. COWS {answer}")
            return {}
        return {"": src.value.strip()}

    def bands(self, src: Src | None, qtype: str, what: str) -> tuple[tuple[float, str], ...]:
        """`bands`: a number's named ranges, `[{from: N, name: TEXT}, ...]` from the lowest up."""
        if src is None:
            return ()
        if qtype not in expr.NUMERIC:
            self.problem(src.mark, f"`bands` only apply to integer and number questions, not to {what}")
            return ()
        items = src.value if isinstance(src.value, list) else []
        found: list[tuple[float, str]] = []
        for item in items:
            start = item.value.get("from") if isinstance(item.value, dict) else None
            name = item.value.get("name") if isinstance(item.value, dict) else None
            number = None if start is None or isinstance(start.value, bool) else start.value
            if not isinstance(number, (int, float)) or name is None or not isinstance(name.value, str):
                self.problem(item.mark, f"each band of {what} needs `from` (a number) and `name` (a text)")
                return ()
            if found and number <= found[-1][0]:
                self.problem(item.mark, f"the bands of {what} must go from the lowest up", "sort them by `from`")
                return ()
            found.append((number, name.value.strip()))
        if not found:
            self.problem(src.mark, f"`bands` of {what} must be a non-empty list")
        return tuple(found)

    def scored_choices(self, src: Src, what: str) -> tuple[Choice, ...]:
        """An item's menu: each choice has a whole-number `score` (its answer), a label (its anchor) and optionally
        a `value` word that an intake file may write instead of the score."""
        if not isinstance(src.value, list) or not src.value:
            self.problem(src.mark, f"{what} needs a non-empty list of `choices`")
            return ()
        result: list[Choice] = []
        for entry in src.value:
            values = self.shaped(entry, f"a choice of {what}", spec.CHOICE) if isinstance(entry.value, dict) else None
            if values is None:
                if not isinstance(entry.value, dict):
                    self.problem(
                        entry.mark, f"a choice of the integer {what} needs a `score`", "- {score: 0, label: ...}"
                    )
                continue
            score = values.get("score")
            if score is None or isinstance(score.value, bool) or not isinstance(score.value, int):
                self.problem((score or entry).mark, f"a choice of the integer {what} needs a whole-number `score`")
                continue
            word = values.get("value")
            if word is not None and isinstance(word.value, bool):  # YAML reads a bare yes or no as true or false
                word = Src("yes" if word.value else "no", word.mark)
            value = str(score.value) if word is None else str(word.value)
            if word is not None and (not isinstance(word.value, str) or not word.value.isidentifier()):
                self.problem(word.mark, f"the `value` of a scored choice of {what} must be a word", "e.g. several_days")
                continue
            if score.value in (c.score for c in result):
                self.problem(score.mark, f"duplicate score {score.value} in {what}")
                continue
            if value in (c.value for c in result):
                self.problem(entry.mark, f"duplicate choice `{value}` in {what}")
                continue
            label = self.text(values, "label", what) or value.replace("_", " ")
            result.append(Choice(value, label, score.value))
        return tuple(result)

    def choices(self, src: Src | None, item: Src, what: str) -> tuple[Choice, ...]:
        if src is None or not isinstance(src.value, list) or not src.value:
            self.problem((src or item).mark, f"{what} needs a non-empty list of `choices`")
            return ()
        result: list[Choice] = []
        for entry in src.value:
            if isinstance(entry.value, dict):
                values = self.shaped(entry, f"a choice of {what}", spec.CHOICE)
                if values is None:
                    continue
                if "value" not in values:
                    self.problem(entry.mark, f"a choice of {what} needs a `value`")
                    continue
                if "score" in values:
                    self.problem(
                        values["score"].mark,
                        f"only an integer question's choices carry scores, not those of the choice {what}",
                        "make it `type: integer`: its answer is then the score",
                    )
                value, label = values["value"].value, self.text(values, "label", what)
            else:
                value, label = entry.value, ""
            if isinstance(value, bool) or not isinstance(value, (str, int)):
                self.problem(entry.mark, f"a choice value of {what} must be a word", "quote values like 'yes' or 'no'")
                continue
            value = str(value)
            if value in (c.value for c in result):
                self.problem(entry.mark, f"duplicate choice `{value}` in {what}")
                continue
            result.append(Choice(value, label or value.replace("_", " ")))
        return tuple(result)

    def question_expressions(self, questions: dict[str, Question], raw: dict[str, dict]) -> None:
        fields = {q.id: q.field_type for q in questions.values()}
        earlier: set[str] = set()
        for ident, question in questions.items():
            values = raw[ident]
            what = f"question `{ident}`"
            if "ask_if" in values:
                if isinstance(question, Asked):
                    question.ask_if = self.parse_expr(values["ask_if"], fields)
                    self.only_earlier(values["ask_if"], question.ask_if, earlier, what, "ask_if")
                else:
                    self.problem(
                        values["ask_if"].mark, f"{what} is computed, so it is never asked and takes no `ask_if`"
                    )
            scope = self.scoped.get(ident)
            if scope is not None and isinstance(question, Asked):  # the include's condition, then its own
                outer = self.parse_expr(scope, fields)
                self.only_earlier(scope, outer, earlier, what, "ask_if")
                if outer is not None:
                    question.ask_if = outer if question.ask_if is None else expr.both(outer, question.ask_if)
            if isinstance(question, Computed):
                compute = self.compute(values["compute"], fields, question, what)
                if compute is not None:  # else a problem is reported, and the pack does not load
                    question.compute = compute
                    self.only_earlier(values["compute"], compute, earlier, what, "compute")
            elif "derive" in values and isinstance(question, Asked):
                if question.type == "text":
                    self.problem(values["derive"].mark, f"{what}: a text field cannot be derived")
                else:
                    derive = self.compute(values["derive"], fields, question, what)
                    if derive is not None:
                        question.derive = derive
                        self.only_earlier(values["derive"], derive, earlier, what, "derive")
            if "implies" in values and isinstance(question, Asked):
                self.implies(question, values["implies"], questions, earlier, what)
            elif "implies" in values:
                self.problem(values["implies"].mark, f"{what} is computed, so it is never asked and implies nothing")
            earlier.add(ident)

    def implies(self, question: Asked, src: Src, questions: dict[str, Question], earlier: set[str], what: str) -> None:
        """`implies: GATE`: a yes/no follow-up whose ask_if reads GATE, an earlier yes/no question."""
        gate = src.value
        target = questions.get(gate) if isinstance(gate, str) else None
        if question.type != "yesno":
            self.problem(src.mark, f"{what}: only a yes/no question can imply another", "remove `implies`")
        elif not isinstance(target, Asked) or target.type != "yesno" or gate not in earlier:
            self.problem(
                src.mark,
                f"{what}: `implies` must name an earlier yes/no question, not {gate!r}",
                "name the yes/no question this one follows up",
            )
        elif question.ask_if is None or gate not in question.ask_if.names:
            self.problem(
                src.mark,
                f"{what} implies `{gate}`, but is not asked only after it",
                f"give it `ask_if: {gate}`",
            )
        else:
            question.implies = gate

    def only_earlier(self, src: Src, parsed, earlier: set[str], what: str, key: str) -> None:
        # Branching and computing read only questions placed before, so the interview can decide in order and
        # computed fields can never form a cycle.
        for name in parsed.names if parsed is not None else ():
            if name not in earlier:
                self.problem(
                    src.mark,
                    f"`{key}` of {what} reads `{name}`, which is not placed before it",
                    f"move {what} after `{name}`",
                )

    def compute(self, src: Src, fields: dict, question: Question, what: str) -> Compute | None:
        if question.type in ("text", "multi"):
            self.problem(src.mark, f"{what}: a {question.type} field cannot be computed or derived")
            return None
        if not isinstance(src.value, list):
            want = "number" if question.type in expr.NUMERIC else "bool" if question.type == "yesno" else None
            if want is None:
                self.problem(src.mark, f"{what} is a choice: compute it with a list of `- when: ... value: ...` cases")
                return None
            parsed = self.parse_expr(src, fields, want)
            if parsed is None:
                return None
            if want == "number":
                self.computed_range(src, parsed, question, what)
            return Compute(expression=parsed, type=question.type)
        cases: list[tuple[expr.Expr, Any]] = []
        otherwise = None
        for entry in src.value:
            # a case or the final `otherwise`; which keys it needs is checked below, with a message for each
            values = self.mapping(
                entry, f"a compute case of {what}", spec.COMPUTE_CASE.names + spec.COMPUTE_OTHERWISE.names
            )
            if values is None:
                continue
            if "otherwise" in values:
                otherwise = self.case_value(values["otherwise"], question, what)
                continue
            if "when" not in values or "value" not in values:
                self.problem(entry.mark, f"a compute case of {what} needs `when` and `value` (or a final `otherwise`)")
                continue
            condition = self.parse_expr(values["when"], fields)
            value = self.case_value(values["value"], question, what)
            if condition is not None:
                cases.append((condition, value))
        return Compute(cases=tuple(cases), otherwise=otherwise, type=question.type)

    def computed_range(self, src: Src, parsed: expr.Expr, question: Question, what: str) -> None:
        """A computed number must keep to its declared type and range: the conditions that read it are checked
        against them (overflow included), and batch scoring holds it as that type."""
        bounds = bounds_of(parsed.root)
        if bounds is None:
            return
        if question.type == "integer" and not bounds.whole:
            self.problem(src.mark, f"{what} is a whole number, but its compute can give decimals", "use `type: number`")
            return
        low = question.min if question.min is not None else -math.inf
        high = question.max if question.max is not None else math.inf
        if bounds.lo < low or bounds.hi > high:
            self.problem(
                src.mark,
                f"the compute of {what} can give {expr.show_number(bounds.lo)} to {expr.show_number(bounds.hi)}, "
                f"outside its declared range",
                "widen its `min`/`max`, or narrow the fields it reads",
            )

    def case_value(self, src: Src, question: Question, what: str) -> Any:
        value = src.value
        if question.type == "choice" and str(value) not in question.choice_values:
            hint = did_you_mean(str(value), question.choice_values) or "allowed: " + ", ".join(question.choice_values)
            self.problem(src.mark, f"`{value}` is not a choice of {what}", hint)
        if question.type in expr.NUMERIC and (isinstance(value, bool) or not isinstance(value, (int, float))):
            self.problem(src.mark, f"the value of {what} must be a number")
            return value
        if question.type == "integer" and isinstance(value, float) and not value.is_integer():
            self.problem(src.mark, f"the value of {what} must be a whole number", "use `type: number`")
        elif question.type in expr.NUMERIC and (
            (question.min is not None and value < question.min) or (question.max is not None and value > question.max)
        ):
            self.problem(src.mark, f"the value {value} of {what} is outside its declared range")
        if question.type == "integer":
            return int(value)  # 1.0 is the whole number 1, in both back ends
        if question.type == "number":
            return float(value)
        if question.type == "yesno" and not isinstance(value, bool):
            self.problem(src.mark, f"the value of {what} must be yes or no")
        return str(value) if question.type == "choice" else value

    # -- levels and rules --------------------------------------------------------------------------------------

    def levels(self, srcs: list[Src], ids: dict[str, Mark]) -> dict[str, Level]:
        result: dict[str, Level] = {}
        for item, values, ident in self.entries(srcs, "levels", "a level", spec.LEVEL, ids):
            what = f"level `{ident}`"
            level = Level(
                ident,
                self.text(values, "name", what),
                item.mark,
                code=self.text(values, "code", what),
                intensity=self.text(values, "intensity", what),
                summary=self.text(values, "summary", what),
                urgent=self.flag(values, "urgent", what, False),
            )
            level.involves = self.strings(values, "involves", what)
            level.next_steps = self.strings(values, "next_steps", what)
            if "rank" in values:
                rank = values["rank"].value
                if isinstance(rank, bool) or not isinstance(rank, int):
                    self.problem(
                        values["rank"].mark, f"`rank` of {what} must be a whole number (higher is more intensive)"
                    )
                else:
                    level.rank = rank
            result[ident] = level
        if not result:
            self.problem(self.folder, "the pack has no levels", "add a `levels:` list")
        return result

    def rules(
        self, srcs: list[Src], questions: dict[str, Question], levels: dict[str, Level], ids: dict[str, Mark]
    ) -> tuple[list[Placement], list[Alert]]:
        fields = {q.id: q.field_type for q in questions.values()}
        alert_fields = {**fields, "level": expr.FieldType("level", tuple(levels))}
        level_rules: list[Placement] = []
        alert_rules: list[Alert] = []
        for item, values, ident in self.entries(srcs, "rules", "a rule", spec.RULE, ids):
            what = f"rule `{ident}`"
            has_level, has_alert = "level" in values, "alert" in values
            if has_level == has_alert:
                self.problem(item.mark, f"{what} needs exactly one of `level` or `alert`")
                continue
            if "when" not in values:
                continue
            when = self.parse_expr(values["when"], alert_fields if has_alert else fields)
            because = self.text(values, "because", what)
            if has_level:
                level = self.level_ref(values["level"], levels, what)
                for key in ("severity", "provisional"):
                    if key in values:
                        self.problem(values[key].mark, f"`{key}` applies to alerts, not to level {what}")
                if when is not None:
                    level_rules.append(Placement(ident, when, because, item.mark, level=level))
                continue
            severity = self.text(values, "severity", what, "info")
            if severity not in spec.SEVERITIES:
                self.problem(
                    values["severity"].mark,
                    f"unknown severity `{severity}` in {what}",
                    did_you_mean(severity, spec.SEVERITIES) or "use one of: " + ", ".join(spec.SEVERITIES),
                )
            if when is not None:
                alert = Alert(ident, when, because, item.mark, self.text(values, "alert", what), severity)
                alert.provisional = self.flag(values, "provisional", what, False)
                alert_rules.append(alert)
        return level_rules, alert_rules

    def level_ref(self, src: Src, levels: dict[str, Level], what: str) -> str:
        name = str(src.value)
        if name not in levels:
            hint = did_you_mean(name, levels) or "levels: " + ", ".join(levels)
            self.problem(src.mark, f"unknown level `{name}` in {what}", hint)
        return name

    def otherwise(self, srcs: list[Src], levels: dict[str, Level]) -> Otherwise | None:
        if not srcs:
            return None
        values = self.shaped(srcs[0], "otherwise", spec.OTHERWISE)
        if values is None or "level" not in values:
            return None
        return Otherwise(
            self.level_ref(values["level"], levels, "otherwise"),
            self.text(values, "because", "otherwise"),
            srcs[0].mark,
        )

    def profile(self, srcs: list[Src], pack: Pack, ids: dict[str, Mark]) -> list[Dimension]:
        """`profile:` the dimensions every decision is rated on. Each rating is a condition over the pack's fields
        (not the level: the profile explains the level, it never decides it), without `is missing` (a dimension with
        missing answers is rated by every way of filling them, `decide.profile`), each rating at most once."""
        fields = {q.id: q.field_type for q in pack.questions.values()}
        dimensions: list[Dimension] = []
        for item, values, ident in self.entries(srcs, "profile", "a profile dimension", spec.DIMENSION, ids):
            what = f"dimension `{ident}`"
            if ident in spec.OUTCOME_COLUMNS:
                self.problem(values["id"].mark, f"{what} has the name of an output column", "call it d1, d2, ...")
                continue
            dimension = Dimension(ident, self.text(values, "name", what), item.mark)
            seen: set[int] = set()
            for entry in self.listing(values.get("ratings"), f"the ratings of {what}"):
                cell = self.shaped(entry, f"a rating of {what}", spec.RATING)
                if not cell or not all(k in cell for k in spec.RATING.required):
                    continue
                rating = cell["rating"].value
                if isinstance(rating, bool) or rating not in spec.RATINGS:
                    self.problem(cell["rating"].mark, f"a rating of {what} must be 0, 1, 2, 3 or 4")
                    continue
                if rating in seen:
                    self.problem(cell["rating"].mark, f"{what} has rating {rating} twice", "join them with `or`")
                    continue
                seen.add(rating)
                when = self.parse_expr(cell["when"], fields)
                if when is None:
                    continue
                if missing_tested(when.root):
                    self.problem(
                        cell["when"].mark,
                        f"rating {rating} of {what} tests `is missing`",
                        "rate only what the answers say: a dimension with missing answers is rated over every way "
                        "of filling them",
                    )
                    continue
                because = self.text(cell, "because", f"rating {rating} of {what}")
                dimension.ratings.append(Rating(f"{ident}:{rating}", when, because, entry.mark, rating=rating))
            if not dimension.ratings:
                self.problem(
                    item.mark, f"{what} has no ratings", "add `ratings: [{rating: 0, when: ..., because: ...}]`"
                )
            dimension.ratings.sort(key=lambda r: -r.rating)
            dimensions.append(dimension)
        return dimensions

    def lint(self, srcs: list[Src], pack: Pack) -> list[Allowance]:
        """`lint: {allow: [{finding: unused-question:age, because: ...}]}`: findings the authors mean, each with why.
        A `gap` allowance takes `when:`, a condition every allowed gap must satisfy, so a new gap is still reported."""
        if not srcs:
            return []
        values = self.shaped(srcs[0], "lint", spec.LINT)
        allowed: list[Allowance] = []
        known = {**pack.questions, **pack.levels, **{r.id: r for r in [*pack.rules, *pack.alerts]}}
        known |= {d.id: d for d in pack.profile}
        for item in self.listing((values or {}).get("allow"), "lint: allow"):
            entry = self.shaped(item, "a lint allowance", spec.ALLOWANCE)
            if not entry or "finding" not in entry or "because" not in entry:
                continue
            key = self.text(entry, "finding", "a lint allowance")
            code, _, subject = key.partition(":")
            if code not in spec.LINT_CODES:
                hint = did_you_mean(code, spec.LINT_CODES) or "one of: " + ", ".join(spec.LINT_CODES)
                self.problem(entry["finding"].mark, f"unknown lint finding `{code}`", hint)
                continue
            if subject and subject not in known:
                hint = did_you_mean(subject, known) or "name a rule, question, level or dimension of this pack"
                self.problem(entry["finding"].mark, f"`{subject}` is not in this pack", hint)
                continue
            when = None
            if "when" in entry:
                if code != "gap":
                    self.problem(entry["when"].mark, "`when` applies only to a `gap` allowance")
                    continue
                when = self.parse_expr(entry["when"], {q.id: q.field_type for q in pack.questions.values()})
            allowed.append(Allowance(key, self.text(entry, "because", "a lint allowance"), when))
        return allowed

    def check_order(self, rules: list[Placement], levels: dict[str, Level]) -> None:
        """Urgent-level rules (crisis, withdrawal) must all come first, so no other rule can ever shadow one."""
        calm: Placement | None = None
        for rule in rules:
            level = levels.get(rule.level)
            if level is None:
                continue
            if not level.urgent:
                calm = calm or rule
            elif calm is not None:
                self.problem(
                    rule.mark,
                    f"rule `{rule.id}` leads to the urgent level `{level.id}` but comes after "
                    f"`{calm.id}`, which could shadow it",
                    "move urgent rules to the top of `rules:`",
                )

    # -- tests -------------------------------------------------------------------------------------------------

    def tests(self, fixture_srcs: list[Src], test_srcs: list[Src], pack: Pack) -> list[TestCase]:
        from iop_cli.pack.answers import clean_answers

        fixtures: dict[str, dict] = {}
        marks: dict[str, dict[str, Mark]] = {}  # where each answer of each fixture is written
        for block in fixture_srcs:
            if not isinstance(block.value, dict):
                self.problem(block.mark, "`fixtures` must map names to answer sets")
                continue
            for name, src in block.value.items():
                if name in fixtures:
                    self.problem(block.keys[name], f"duplicate fixture `{name}`")
                if not isinstance(src.value, dict):
                    self.problem(src.mark, f"fixture `{name}` must map field ids to answers")
                fixtures[name] = src.plain() if isinstance(src.value, dict) else {}
                marks[name] = src.keys
        result: list[TestCase] = []
        names: set[str] = set()
        for block in test_srcs:
            for item in self.listing(block, "tests"):
                values = self.shaped(item, "a test", spec.TEST)
                if values is None:
                    continue
                name = self.text(values, "name", "a test")
                if name in names:
                    self.problem(item.mark, f"duplicate test name `{name}`")
                names.add(name)
                given: dict[str, Any] = {}
                where: dict[str, Mark] = {}
                if "base" in values:
                    base = self.text(values, "base", f"test `{name}`")
                    if base not in fixtures:
                        self.problem(values["base"].mark, f"unknown fixture `{base}`", did_you_mean(base, fixtures))
                    given.update(fixtures.get(base, {}))
                    where.update(marks.get(base, {}))
                if "given" in values:
                    if not isinstance(values["given"].value, dict):
                        self.problem(values["given"].mark, "`given` must map field ids to answers")
                    else:
                        given.update(values["given"].plain())
                        where.update(values["given"].keys)
                given = {k: v for k, v in given.items() if v is not None}  # null removes a fixture's answer
                try:
                    clean_answers(pack, given)
                except ProblemsError as exc:
                    for p in exc.problems:
                        mark = where.get(p.where, item.mark)
                        self.problem(mark, f"test `{name}`: {p.where}: {p.message}", p.hint)
                expect = self.expectation(values.get("expect"), pack, name)
                result.append(TestCase(name, given, expect, item.mark))
        return result

    def expectation(self, src: Src | None, pack: Pack, name: str) -> dict[str, Any]:
        if src is None:
            return {}
        values = self.shaped(src, f"the expectation of test `{name}`", spec.EXPECT)
        if values is None:
            return {}
        expect = src.plain()
        if "level" in expect and expect["level"] not in pack.levels:
            self.problem(
                values["level"].mark,
                f"unknown level `{expect['level']}`",
                did_you_mean(str(expect["level"]), pack.levels),
            )
        if "status" in expect and expect["status"] not in ("ok", "provisional", "review"):
            self.problem(
                values["status"].mark, f"unknown status `{expect['status']}`", "one of: ok, provisional, review"
            )
        if "rule" in expect and expect["rule"] is not None and pack.rule(str(expect["rule"])) is None:
            rule_ids = [r.id for r in pack.rules]
            self.problem(
                values["rule"].mark, f"unknown rule `{expect['rule']}`", did_you_mean(str(expect["rule"]), rule_ids)
            )
        for key in ("alerts", "missing", "possible"):
            if key in expect and not isinstance(expect[key], list):
                self.problem(values[key].mark, f"`{key}` must be a list")
        for level in expect.get("possible") or [] if isinstance(expect.get("possible"), list) else []:
            if level not in pack.levels:
                self.problem(values["possible"].mark, f"unknown level `{level}`", did_you_mean(str(level), pack.levels))
        alert_ids = {a.id for a in pack.alerts}
        for alert in expect.get("alerts") or []:
            if alert not in alert_ids:
                self.problem(values["alerts"].mark, f"unknown alert `{alert}`", did_you_mean(str(alert), alert_ids))
        if "values" in values:
            expect["values"] = self.expected_values(values["values"], pack, name)
        if "profile" in values:
            dimensions = {d.id for d in pack.profile}
            given = values["profile"]
            if not isinstance(given.value, dict):
                self.problem(given.mark, f"`profile` of test `{name}` must map dimension ids to ratings", "{d1: 2}")
                expect.pop("profile", None)
            for ident, rating in given.value.items() if isinstance(given.value, dict) else ():
                if ident not in dimensions:
                    hint = did_you_mean(ident, dimensions) or "dimensions: " + ", ".join(sorted(dimensions))
                    self.problem(given.keys[ident], f"test `{name}`: unknown dimension `{ident}`", hint)
                elif rating.value not in (*spec.RATINGS, None) or isinstance(rating.value, bool):
                    self.problem(rating.mark, f"test `{name}`: a rating is 0-4, or null for not rated")
        return expect

    def expected_values(self, src: Src, pack: Pack, name: str) -> dict[str, Any]:
        """`values:` of a test: each field's expected value, typed as its question's answers are (null: no value)."""
        from iop_cli.pack.answers import BadValue, coerce

        if not isinstance(src.value, dict):
            self.problem(src.mark, f"`values` of test `{name}` must map field ids to values")
            return {}
        result: dict[str, Any] = {}
        for field, value in src.value.items():
            question = pack.questions.get(field)
            if question is None:
                self.problem(
                    src.keys[field], f"test `{name}`: unknown field `{field}`", did_you_mean(field, pack.questions)
                )
                continue
            try:
                result[field] = coerce(question, value.plain())
            except BadValue as exc:
                self.problem(value.mark, f"test `{name}`: `{field}` {exc.message}", f"allowed: {exc.allowed}")
        return result
