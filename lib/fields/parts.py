"""How a JSON schema splits into parts whose errors can be found apart (and so remembered apart).

Under an object schema whose keywords are only annotations, keywords evaluated on the object as a
whole, and ``properties``, the errors of a value are the object's own plus, for each property
present, those of its value against its subschema alone: its siblings do not matter.
"""
from __future__ import annotations

from dataclasses import dataclass

from jsonschema.protocols import Validator

# Keywords no validator reads to refuse a value (annotations, ours included), and keywords evaluated
# on an object as a whole that read no sibling but each other (``if``/``then``/``else``). Any other
# keyword (one added later included) keeps its object whole: a schema change costs speed, never exactness.
ANNOTATIONS = frozenset({
    "$schema", "$comment", "title", "description", "default", "examples", "deprecated", "readOnly", "writeOnly",
    "x-reason", "x-updatable", "x-group", "x-personal", "x-form-default", "x-qa-default", "x-fills",
    "x-invalid-examples", "x-only-if",
})
WHOLE_OBJECT = frozenset({"type", "required", "const", "enum", "minProperties", "maxProperties",
                           "if", "then", "else", "x-decimals-by-currency"})
_CONDITIONAL = frozenset({"if", "then", "else"})


@dataclass(frozen=True, eq=False)
class Part:
    """How the errors of the value at ``path`` are found: by ``validator`` whole, or (``properties``
    not None) by ``before`` and ``after`` (the object's own keywords either side of ``properties``,
    kept apart so the errors come in jsonschema's order) around each property's part."""

    path: tuple[str, ...]
    validator: Validator
    properties: dict[str, Part] | None = None
    before: Validator | None = None
    after: Validator | None = None


def split(validator: Validator, path: tuple[str, ...] = ()) -> Part:
    """The part for ``validator``'s schema at ``path``. Each validator is evolved from its parent's, as
    jsonschema's ``descend`` does, which gives the same validator unless the subschema sets ``$id``
    (a new base for references): its object is then checked whole."""
    schema = validator.schema
    if (not isinstance(schema, dict) or "properties" not in schema
            or not set(schema) <= ANNOTATIONS | WHOLE_OBJECT | {"properties"}):
        return Part(path, validator)
    keys = list(schema)
    at = keys.index("properties")
    sides = [keys[:at], keys[at + 1:]]
    properties = schema["properties"]
    if (not isinstance(properties, dict)
            or any(isinstance(sub, dict) and "$id" in sub for sub in properties.values())
            or all(_CONDITIONAL & set(side) for side in sides)):
        return Part(path, validator)

    def own(side: list[str]) -> Validator | None:
        if not set(side) - ANNOTATIONS:
            return None
        # Annotations stay: a reason reads ``x-reason`` from the error's schema. ``$schema`` goes, as
        # evolve() would take it for another validator class than the one already chosen.
        return validator.evolve(schema={k: v for k, v in schema.items()
                                        if k in side or k in ANNOTATIONS - {"$schema"}})

    parts = {name: split(validator.evolve(schema=sub), (*path, name)) for name, sub in properties.items()}
    return Part(path, validator, parts, own(sides[0]), own(sides[1]))
