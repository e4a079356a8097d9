"""The model as PICT model text, so QA can keep, diff and hand-edit it as they do today.

Parameter lines ``path: v1, v2, ~negative`` list the enabled dimensions; constraints read
``IF [a] = "x" THEN [b] IN {"p", "q"};``. Values are the typed labels of :mod:`lib.qa.values`
(JSON, ``<not sent>``, ``<base>``; bare words such as ``gbp`` read as strings), so booleans,
Decimals and strings with commas or quotes round-trip. Fields a text leaves out keep the base
model's values, switched off.
"""
from __future__ import annotations

import copy
import re

from lib.qa.model import Constraint, Dimension, Model, check_values
from lib.qa.values import Value, read_value, read_values, token

_PARAMETER = re.compile(r"^\s*(?P<path>[^:\s\[\]]+)\s*:(?P<values>.*)$")
_FIELD = re.compile(r"\s*\[(?P<path>[^\]]+)\]\s*")


def to_pict(model: Model) -> str:
    """Enabled dimensions, then every constraint."""
    lines = ["# QA model. Values are JSON; <not sent> omits the key, <base> keeps the base payload's, ~ marks a negative."]
    lines += [f"{d.path}: {', '.join(v.label for v in d.values)}" for d in model.enabled()]
    if model.constraints:
        lines.append("")
    lines += [
        f"IF [{c.if_path}] = {token(c.if_value)} THEN [{c.then_path}] IN {{{', '.join(token(v) for v in c.then_values)}}};"
        for c in model.constraints
    ]
    return "\n".join(lines) + "\n"


def from_pict(text: str, base: Model) -> Model:
    """The model ``text`` describes, over ``base``'s fields and payload.

    ValueError names the line and the reason: unknown or repeated field, unreadable value, a
    constraint that does not parse or names a value its field does not have.
    """
    known = {d.path for d in base.dimensions}
    listed: dict[str, list[Value]] = {}
    constraints: list[tuple[int, Constraint]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            if stripped[:2].upper() == "IF" and not _PARAMETER.match(stripped):
                constraints.append((number, _constraint(stripped)))
            else:
                path, values = _parameter(stripped, known)
                if path in listed:
                    raise ValueError(f"{path} is listed twice")
                listed[path] = values
        except ValueError as exc:
            raise ValueError(f"line {number}: {exc}") from None
    dimensions = [Dimension(d.path, listed.get(d.path, list(d.values)), d.path in listed) for d in base.dimensions]
    values_of = {d.path: {token(v.value) for v in d.values} for d in dimensions}
    for number, constraint in constraints:
        for path, values in ((constraint.if_path, [constraint.if_value]), (constraint.then_path, constraint.then_values)):
            if path not in known:
                raise ValueError(f"line {number}: unknown field {path!r}")
            missing = [token(v) for v in values if token(v) not in values_of[path]]
            if missing:
                raise ValueError(f"line {number}: {', '.join(missing)} is not a value of {path}")
    return Model(dimensions, [c for _, c in constraints], copy.deepcopy(base.base))


def _parameter(line: str, known: set[str]) -> tuple[str, list[Value]]:
    match = _PARAMETER.match(line)
    if match is None:
        raise ValueError("expected 'field: value, value, ...' or 'IF [field] = value THEN [field] IN {...};'")
    path = match["path"]
    if path not in known:
        raise ValueError(f"unknown field {path!r}")
    values, _ = read_values(line, match.start("values"))
    check_values(path, values)
    return path, values


def _constraint(line: str) -> Constraint:
    """``IF [a] = v THEN [b] IN {p, q};`` (``THEN [b] = p`` too), one per line."""
    pos = _keyword(line, 0, "IF")
    if_path, pos = _field(line, pos)
    pos = _keyword(line, pos, "=")
    if_value, pos = read_value(line, pos)
    pos = _keyword(line, pos, "THEN")
    then_path, pos = _field(line, pos)
    rest = line[pos:].lstrip()
    if rest[:2].upper() == "IN":
        pos = _keyword(line, _keyword(line, pos, "IN"), "{")
        then_values, pos = read_values(line, pos, close="}")
    else:
        value, pos = read_value(line, _keyword(line, pos, "="))
        then_values = [value]
    tail = line[pos:].strip()
    if tail not in ("", ";"):
        raise ValueError(f"unexpected {tail!r} after the constraint")
    if if_value.negative or any(v.negative for v in then_values):
        raise ValueError("constraint values take no '~'")
    return Constraint(if_path, if_value.value, then_path, [v.value for v in then_values])


def _keyword(line: str, pos: int, word: str) -> int:
    rest = line[pos:].lstrip()
    if rest[:len(word)].upper() != word:
        raise ValueError(f"expected {word!r} at column {len(line) - len(rest) + 1}")
    return len(line) - len(rest) + len(word)


def _field(line: str, pos: int) -> tuple[str, int]:
    match = _FIELD.match(line, pos)
    if match is None:
        raise ValueError(f"expected [field] at column {pos + 1}")
    return match["path"].strip(), match.end()
