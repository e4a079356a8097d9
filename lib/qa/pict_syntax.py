"""PICT model text read as PICT reads it, before anything is known of our fields.

Parameter lines ``name: v1, ~v2`` come first, then sub-model lines ``{A, B, C} @ 3`` (the order
may be left out); the first line that reads as a constraint (it starts with ``IF``, ``[`` or
``(``) starts the constraints, which may span lines and end with ``;``. What the QA model cannot
hold is refused with its line and the reason, never read as something else: aliases ``a | b``
(one value, several names), weights ``v (3)``, parameter references ``<name>``, a parameter's own
order ``name @ 3``, and the functions ``ISNEGATIVE``/``ISPOSITIVE``.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from lib.qa.constraints import RELATIONS, Constraint, Expr, Literal, Logic, Not, Term
from lib.qa.spelling import is_pict_number


@dataclass(frozen=True)
class RawValue:
    """A value as the parameter line spells it (``~`` taken off), and whether it is negative."""

    text: str
    negative: bool


@dataclass(frozen=True)
class Parameter:
    line: int
    name: str
    values: list[RawValue]


@dataclass(frozen=True)
class RawSubModel:
    """``{A, B, C} @ 3`` as written: the names and the order (None when left out)."""

    line: int
    names: tuple[str, ...]
    order: int | None


@dataclass(frozen=True)
class Document:
    parameters: list[Parameter]
    constraints: list[tuple[int, Constraint]]  # (the line it starts on, the constraint)
    submodels: list[RawSubModel]


class PictError(ValueError):
    """``line N: reason``."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")


_WEIGHT = re.compile(r"\(\s*[0-9.]+\s*\)$")
_SUBMODEL = re.compile(r"^\{(?P<names>[^{}]*)\}\s*(?:@\s*(?P<order>\S*))?$")
_CONSTRAINT_START = re.compile(r"(?i)^(IF\b|\[|\()")
_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<comment>\#[^\n]*)
  | (?P<field>\[(?:\\.|[^\]\\])*\])
  | (?P<string>"(?:\\.|[^"\\\n])*")
  | (?P<number>[+-]?\.?[0-9](?:[0-9A-Za-z_.]|(?<=[eEpP])[+-])*)
  | (?P<op><>|>=|<=|=|>|<|[{}(),;])
  | (?P<word>[A-Za-z_]+)
""", re.VERBOSE)
_WORDS = ("IF", "THEN", "ELSE", "AND", "OR", "NOT", "IN", "LIKE")
_UNESCAPE = re.compile(r"\\(.)")


def parse(text: str) -> Document:
    """The parameters and constraints of a PICT model text; PictError at the first thing it cannot hold."""
    lines = text.split("\n")
    parameters: list[Parameter] = []
    submodels: list[RawSubModel] = []
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if _CONSTRAINT_START.match(stripped):
            offset = sum(len(previous) + 1 for previous in lines[:number - 1])
            return Document(parameters, parse_constraints(text[offset:], first_line=number), submodels)
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("{"):
            submodels.append(parse_submodel(number, stripped))
        elif submodels:
            raise PictError(number, "parameters come before sub-models (PICT reads parameters, then sub-models, "
                                    "then constraints)")
        else:
            parameters.append(_parameter(number, stripped, {p.name for p in parameters}))
    return Document(parameters, [], submodels)


def parse_submodel(number: int, line: str) -> RawSubModel:
    """One ``{A, B, C} @ n`` line (``@ n`` optional)."""
    match = _SUBMODEL.match(line)
    if match is None:
        raise PictError(number, "expected a sub-model '{field, field, ...} @ order'")
    names = tuple(name.strip() for name in match["names"].split(","))
    if not all(names):
        raise PictError(number, "a sub-model lists field names separated by commas (an empty name?)")
    order = match["order"]
    if order is not None and not (order.isascii() and order.isdigit() and int(order) > 0):
        raise PictError(number, f"a sub-model's order is a whole number of at least 1, not {order!r}")
    return RawSubModel(number, names, int(order) if order is not None else None)


def _parameter(number: int, line: str, earlier: set[str]) -> Parameter:
    name, colon, rest = line.partition(":")
    name = name.strip()
    if not colon or not name:
        raise PictError(number, "expected 'field: value, value, ...' or a constraint ending in ';'")
    if "@" in name:
        raise PictError(number, f"{name}: a parameter's own order (@ n) is not supported")
    values = []
    for raw in rest.split(","):
        text = raw.strip()
        negative = text.startswith("~")
        text = text[1:].strip() if negative else text
        if not text:
            raise PictError(number, f"{name}: an empty value (two commas in a row, or one at the end?)")
        if text.startswith("<") and text.endswith(">") and text[1:-1] in earlier:
            raise PictError(number, f"{name}: parameter references ({text}) are not supported: list the values")
        if _WEIGHT.search(text):
            raise PictError(number, f"{name}: weights ({text}) are not supported")
        if "|" in text:
            raise PictError(number, f"{name}: aliases ({text}) are not supported: one name per value")
        values.append(RawValue(text, negative))
    return Parameter(number, name, values)


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    line: int

    @property
    def word(self) -> str:
        return self.text.upper() if self.kind == "word" else ""


def _tokens(text: str, first_line: int) -> list[_Token]:
    tokens: list[_Token] = []
    pos, line = 0, first_line
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise PictError(line, f"unexpected {text[pos]!r}")
        kind = match.lastgroup or ""
        if kind in ("word", "number") and is_pict_number(match.group()):
            kind = "number"
        elif kind == "number":
            raise PictError(line, f"{match.group()!r} is not a number")
        elif kind == "word" and match.group().upper() not in _WORDS:
            word = match.group()
            reason = ("functions (ISNEGATIVE, ISPOSITIVE) are not supported" if word.upper() in ("ISNEGATIVE", "ISPOSITIVE")
                      else f"unexpected {word!r}: a constraint starts with IF, [field] or (, and its texts "
                           f"are quoted (\"{word}\")")
            raise PictError(line, reason)
        if kind not in ("space", "comment"):
            tokens.append(_Token(kind, match.group(), line))
        line += match.group().count("\n")
        pos = match.end()
    return tokens


class _Parser:
    """Recursive descent over one constraint section; NOT binds tighter than AND, AND than OR (as in PICT)."""

    def __init__(self, tokens: list[_Token], end_line: int) -> None:
        self.tokens, self.pos, self.end_line = tokens, 0, end_line

    def peek(self) -> _Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def line(self) -> int:
        token = self.peek()
        return token.line if token else self.end_line

    def take(self, kind: str = "", text: str = "") -> _Token:
        token = self.peek()
        if token is None or (kind and token.kind != kind) or (text and (token.word or token.text) != text):
            found = "the end" if token is None else repr(token.text)
            raise PictError(self.line(), f"expected {text or kind}, found {found}")
        self.pos += 1
        return token

    def at(self, text: str) -> bool:
        token = self.peek()
        return token is not None and (token.word or token.text) == text

    def constraint(self) -> Constraint:
        if self.at("IF"):
            self.take(text="IF")
            when = self.predicate()
            self.take(text="THEN")
            then = self.predicate()
            otherwise = None
            if self.at("ELSE"):
                self.take(text="ELSE")
                otherwise = self.predicate()
            self.take(text=";")
            return Constraint(then, when, otherwise)
        then = self.predicate()
        self.take(text=";")
        return Constraint(then)

    def predicate(self) -> Expr:
        return self.joined("OR", self.conjunction)

    def conjunction(self) -> Expr:
        return self.joined("AND", self.clause)

    def joined(self, word: str, part: Callable[[], Expr]) -> Expr:
        """``part`` once, or several joined by ``word`` (AND binds tighter: it is OR's part)."""
        items = [part()]
        while self.at(word):
            self.take(text=word)
            items.append(part())
        return items[0] if len(items) == 1 else Logic(word, tuple(items))

    def clause(self) -> Expr:
        if self.at("NOT"):
            self.take(text="NOT")
            return Not(self.clause())
        if self.at("("):
            self.take(text="(")
            inner = self.predicate()
            self.take(text=")")
            return inner
        return self.term()

    def term(self) -> Term:
        path = _field(self.take("field"))
        token = self.peek()
        if self.at("IN"):
            self.take(text="IN")
            self.take(text="{")
            items = [self.literal()]
            while self.at(","):
                self.take(text=",")
                items.append(self.literal())
            self.take(text="}")
            return Term(path, "IN", tuple(items))
        if self.at("LIKE"):
            self.take(text="LIKE")
            pattern = self.literal()
            if not pattern.quoted:
                raise PictError(self.line(), "LIKE takes a quoted pattern")
            return Term(path, "LIKE", pattern)
        if token is None or token.text not in RELATIONS:
            raise PictError(self.line(), f"expected a relation ({' '.join(RELATIONS)}), IN or LIKE after [{path}]")
        self.pos += 1
        if self.peek() is not None and self.tokens[self.pos].kind == "field":
            return Term(path, token.text, _field(self.take("field")))
        return Term(path, token.text, self.literal())

    def literal(self) -> Literal:
        token = self.peek()
        if token is not None and token.kind == "string":
            self.pos += 1
            return Literal(_UNESCAPE.sub(r"\1", token.text[1:-1]), quoted=True)
        if token is not None and token.kind == "number":
            self.pos += 1
            return Literal(token.text, quoted=False)
        raise PictError(self.line(), f"expected a quoted string or a number, found {'the end' if token is None else repr(token.text)}")


def _field(token: _Token) -> str:
    return _UNESCAPE.sub(r"\1", token.text[1:-1]).strip()


def parse_constraints(text: str, first_line: int = 1) -> list[tuple[int, Constraint]]:
    """Constraints, each ended by ``;``, with the line each starts on."""
    parser = _Parser(_tokens(text, first_line), first_line + text.count("\n"))
    found = []
    while parser.peek() is not None:
        found.append((parser.line(), parser.constraint()))
    return found
