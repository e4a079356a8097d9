"""PICT constraints as data: ``IF … THEN … ELSE …;`` and invariants, their PICT text, and how they judge a case.

A term compares a field with a literal (``= <> > >= < <=``), a set (``IN``), a wildcard pattern
(``LIKE``: ``*`` any run, ``?`` one character) or another field. As in PICT, a field whose value
spellings (:mod:`lib.qa.spelling`) are all numbers is numeric and compares by number; any other
compares its spellings as text, letter case counting (as ``pict /c`` does; plain ``pict`` would
ignore case). A case that does not set a field leaves the terms on it unknown: a constraint holds
on a partial case unless it is false whatever the unset fields take (three-valued logic), so the
generator can prune rows early and never wrongly.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from lib.qa.spelling import is_pict_number, kind_of, spell
from lib.qa.values import Value

RELATIONS = ("=", "<>", ">=", "<=", ">", "<")


@dataclass(frozen=True)
class Literal:
    """A constant in a term: a number (PICT's bare number) or a text (PICT's quoted string)."""

    text: str
    quoted: bool

    @property
    def pict(self) -> str:
        if not self.quoted:
            return self.text
        return '"' + self.text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class Term:
    """``[path] op operand``: a literal, a set of them (``IN``), a pattern (``LIKE``) or a field."""

    path: str
    op: str  # a RELATION, IN or LIKE
    operand: Literal | tuple[Literal, ...] | str  # a str is another field's path

    @property
    def paths(self) -> tuple[str, ...]:
        return (self.path, self.operand) if isinstance(self.operand, str) else (self.path,)

    @property
    def pict(self) -> str:
        if isinstance(self.operand, str):
            return f"[{self.path}] {self.op} [{self.operand}]"
        if isinstance(self.operand, tuple):
            return f"[{self.path}] IN {{{', '.join(item.pict for item in self.operand)}}}"
        return f"[{self.path}] {self.op} {self.operand.pict}"


@dataclass(frozen=True)
class Not:
    item: Expr

    @property
    def paths(self) -> tuple[str, ...]:
        return self.item.paths

    @property
    def pict(self) -> str:
        return f"NOT ({self.item.pict})"


@dataclass(frozen=True)
class Logic:
    """``AND`` or ``OR`` over two or more items; nested items of the same operator are flattened,
    so one meaning has one shape (and the text written reads back to it)."""

    op: str
    items: tuple[Expr, ...]

    def __post_init__(self) -> None:
        flat = tuple(part for item in self.items
                     for part in (item.items if isinstance(item, Logic) and item.op == self.op else (item,)))
        object.__setattr__(self, "items", flat)

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(path for item in self.items for path in item.paths)

    @property
    def pict(self) -> str:
        return f" {self.op} ".join(f"({item.pict})" if isinstance(item, Logic) else item.pict for item in self.items)


Expr = Term | Not | Logic  # what a predicate is: the dataclasses above name it in their fields


@dataclass(frozen=True)
class Constraint:
    """``IF when THEN then [ELSE otherwise];``, or the invariant ``then;`` when ``when`` is None."""

    then: Expr
    when: Expr | None = None
    otherwise: Expr | None = None

    def terms(self) -> list[Term]:
        """Every term, in order."""
        def walk(expr: Expr) -> list[Term]:
            if isinstance(expr, Term):
                return [expr]
            return walk(expr.item) if isinstance(expr, Not) else [t for item in expr.items for t in walk(item)]

        return [t for part in (self.when, self.then, self.otherwise) if part is not None for t in walk(part)]

    @property
    def paths(self) -> list[str]:
        """The fields it names, each once, in order."""
        parts = [part for part in (self.when, self.then, self.otherwise) if part is not None]
        return list(dict.fromkeys(path for part in parts for path in part.paths))

    @property
    def pict(self) -> str:
        """One line of PICT; an invariant starts with ``[`` or ``(`` (how PICT tells a constraint line)."""
        if self.when is None:
            text = self.then.pict
            return f"{text};" if text.startswith("[") and not isinstance(self.then, Not) else f"({text});"
        otherwise = f" ELSE {self.otherwise.pict}" if self.otherwise is not None else ""
        return f"IF {self.when.pict} THEN {self.then.pict}{otherwise};"


def restrict(if_path: str, if_value: Literal, then_path: str, then_values: Sequence[Literal]) -> Constraint:
    """``IF [a] = x THEN [b] IN {…};`` (``= y`` for one value): the common shape, built in code."""
    then = Term(then_path, "=", then_values[0]) if len(then_values) == 1 else Term(then_path, "IN", tuple(then_values))
    return Constraint(then, Term(if_path, "=", if_value))


def numeric(path: str, values: Sequence[Value]) -> bool:
    """Whether PICT takes the field for numeric: every value's spelling is a number."""
    kind = kind_of(path)
    return all(is_pict_number(spell(value.value, kind)) for value in values)


def literal(path: str, values: Sequence[Value], value: Value) -> Literal:
    """The literal that names ``value`` among the field's ``values`` in a PICT term."""
    return Literal(spell(value.value, kind_of(path)), quoted=not numeric(path, values))


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float.fromhex(text)


def _like(pattern: str) -> re.Pattern[str]:
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern), re.DOTALL)


_COMPARE: dict[str, Callable[[int], bool]] = {
    "=": lambda c: c == 0, "<>": lambda c: c != 0, ">": lambda c: c > 0,
    ">=": lambda c: c >= 0, "<": lambda c: c < 0, "<=": lambda c: c <= 0,
}


def _cmp(a: float | str, b: float | str) -> int:
    return (a > b) - (a < b)  # type: ignore[operator]  # both numbers or both texts


class Judge:
    """A model's constraints over its dimensions' values: whether a (partial) case satisfies them.

    A constraint naming a field outside ``dimensions`` (one switched off) is left out, as PICT skips
    a constraint naming a parameter its model does not list.
    """

    def __init__(self, constraints: Sequence[Constraint], dimensions: Mapping[str, Sequence[Value]]) -> None:
        self.constraints = [c for c in constraints if all(path in dimensions for path in c.paths)]
        spelled = {path: [spell(value.value, kind_of(path)) for value in values] for path, values in dimensions.items()}
        self._numeric = {path: all(map(is_pict_number, texts)) for path, texts in spelled.items()}
        # PICT reads the model twice, without its negatives and with them: a field must be one type both times
        self._mixed = {path for path, values in dimensions.items()
                       if all(is_pict_number(text) for text, value in zip(spelled[path], values, strict=True)
                              if not value.negative) != self._numeric[path]}
        self._known = {(path, value): self._read(path, text) for path, values in dimensions.items()
                       for value, text in zip(values, spelled[path], strict=True)}

    def _key(self, path: str, value: Value) -> float | str:
        return self._read(path, spell(value.value, kind_of(path)))

    def _read(self, path: str, text: str) -> float | str:
        """A value's spelling as the constraints compare it: a number in a numeric field."""
        return _number(text) if self._numeric.get(path) else text

    def _term(self, term: Term, lookup: Callable[[str], Value | None]) -> bool | None:
        value = lookup(term.path)
        if value is None:
            return None
        key = self._known.get((term.path, value))
        key = self._key(term.path, value) if key is None else key
        if isinstance(term.operand, str):
            other = lookup(term.operand)
            if other is None:
                return None
            return _COMPARE[term.op](_cmp(key, self._key(term.operand, other)))
        if isinstance(term.operand, tuple):
            return any(key == self._literal(item) for item in term.operand)
        if term.op == "LIKE":
            return _like(term.operand.text).fullmatch(str(key)) is not None
        operand = self._literal(term.operand)
        return type(operand) is type(key) and _COMPARE[term.op](_cmp(key, operand))

    @staticmethod
    def _literal(item: Literal) -> float | str:
        return item.text if item.quoted else _number(item.text)

    def is_numeric(self, path: str) -> bool:
        return self._numeric[path]

    def is_mixed(self, path: str) -> bool:
        """Numeric in its valid values, not with its negatives: PICT compares such a field with nothing."""
        return path in self._mixed

    def names_a_value(self, path: str, item: Literal) -> bool:
        """Whether the literal is one of the field's values (how a typo in a constraint is caught)."""
        wanted = self._literal(item)
        return any(key == wanted for (known, _), key in self._known.items() if known == path)

    def evaluate(self, expr: Expr, lookup: Callable[[str], Value | None]) -> bool | None:
        """True, False, or None when it depends on fields the case does not set."""
        if isinstance(expr, Term):
            return self._term(expr, lookup)
        if isinstance(expr, Not):
            inner = self.evaluate(expr.item, lookup)
            return None if inner is None else not inner
        results = [self.evaluate(item, lookup) for item in expr.items]
        decisive = expr.op == "OR"  # OR: any True decides; AND: any False decides
        if decisive in results:
            return decisive
        return None if None in results else not decisive

    def verdict(self, constraint: Constraint, lookup: Callable[[str], Value | None]) -> bool | None:
        """``IF w THEN t ELSE e`` is ``(NOT w OR t) AND (w OR e)``, in three-valued logic."""
        then = self.evaluate(constraint.then, lookup)
        if constraint.when is None:
            return then
        when = self.evaluate(constraint.when, lookup)
        otherwise = True if constraint.otherwise is None else self.evaluate(constraint.otherwise, lookup)
        first = True if when is False or then is True else None if when is None or then is None else False
        second = True if when is True or otherwise is True else None if when is None or otherwise is None else False
        return False if False in (first, second) else None if None in (first, second) else True

    def allows(self, assignment: Mapping[str, Value]) -> bool:
        """Whether no constraint is false on this (partial) case."""
        return all(self.verdict(c, assignment.get) is not False for c in self.constraints)
