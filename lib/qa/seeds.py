"""Rows every suite must contain, as QA supplies them (PICT's ``/e`` seeding file) or as a saved run kept them.

The text is PICT's: a first line of field names separated by tabs, then one row per line, a
value per field spelled as in the model's PICT text (:mod:`lib.qa.spelling`), an empty cell
left for the generator to choose. Unlike PICT, which drops what it does not know with a
warning, a field or value the model does not have, a second negative in a row, or a row the
constraints allow in no case is refused with its line: a required row silently changed would
not be the row QA asked for.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from lib.qa.model import Model
from lib.qa.pict_syntax import PictError
from lib.qa.space import Space
from lib.qa.spelling import kind_of, read
from lib.qa.values import Value, parse_label

Seed = dict[str, Value]  # path → value, the fields the row names (the others the generator fills)


def read_seeds(text: str, model: Model) -> list[Seed]:
    """The rows of a seeding text, each checked against ``model``; ValueError ``line N: reason``."""
    lines = [(number, line) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not lines:
        return []
    (header_line, header), *rows = lines
    paths = [name.strip() for name in header.split("\t")]
    enabled = {d.path for d in model.enabled()}
    for path in paths:
        if path not in enabled:
            raise PictError(header_line, f"{path!r} is not an enabled field of the model")
    if len(set(paths)) < len(paths):
        raise PictError(header_line, "a field is named twice")
    space = Space(model)
    seeds = []
    for number, line in rows:
        cells = line.split("\t")
        if len(cells) > len(paths):
            raise PictError(number, f"{len(cells)} values for {len(paths)} fields")
        seed = {}
        for path, cell in zip(paths, cells, strict=False):
            if cell.strip():
                seed[path] = _value(number, model, path, cell.strip())
        seeds.append(checked(number, space, seed))
    return seeds


def _value(number: int, model: Model, path: str, text: str) -> Value:
    negative = text.startswith("~")
    try:
        wanted = read(text[1:].strip() if negative else text, kind_of(path))
    except ValueError as exc:
        raise PictError(number, f"{path}: {exc}") from None
    for value in model.dimension(path).values:
        if Value(wanted) == Value(value.value):
            if negative and not value.negative:
                raise PictError(number, f"{text}: {path}'s value is not marked negative (~) in the model")
            return value
    raise PictError(number, f"{text} is not a value of {path} (letter case counts)")


def checked(number: int, space: Space, seed: Seed) -> Seed:
    """The seed, once it has at most one negative and the constraints allow some case holding it."""
    negatives = [path for path, value in seed.items() if value.negative]
    if len(negatives) > 1:
        raise PictError(number, f"more than one negative value ({', '.join(negatives)}): a case holds one at most")
    if not space.completable(space.row(seed)):
        raise PictError(number, "the constraints allow no case holding these values")
    return seed


def saved_seeds(labels: Iterable[Mapping[str, str]], model: Model) -> list[Seed]:
    """A saved run's cases as seeds for ``model``: each keeps the values the model still has (a
    field switched off or a value removed since is left to the generator), so extending a suite
    keeps its cases and adds only what the model's new fields and values need."""
    space = Space(model)
    seeds = []
    for case in labels:
        seed = {}
        for path, label in case.items():
            if any(d.path == path for d in model.enabled()):
                value = parse_label(label)
                if value in model.dimension(path).values:
                    seed[path] = value
        if sum(v.negative for v in seed.values()) <= 1 and space.completable(space.row(seed)):
            seeds.append(seed)
    return seeds
