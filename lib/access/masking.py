"""Customer personal data masked for roles that need the shape of a session, not the person (qa).

Why it is built this way:
- Which fields are personal is read from the schema (``x-personal`` in :mod:`lib.fields.schema`), never
  listed here: a personal field added there is masked everywhere at once.
- How a value is masked follows its schema (``format``) and leaf name, keeping just enough to tell
  values apart (``e***@example.com``, ``*** 6580``); a personal field of a kind not known here
  still gets the generic mask (first character + ``***``).
- Everything else (amounts, order ids, session ids, operators) passes through untouched: masking
  must not hide what QA and the log are about.
- Callers pass ``enabled=identity.masks_personal_data`` so a page has one call whatever the role.
- Input is never modified: masked data is a copy.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

from lib.common import jsonutil
from lib.fields.schema import leaves

PERSONAL_LEAVES: dict[str, dict[str, Any]] = {leaf.path: leaf.schema for leaf in leaves() if leaf.personal}
PERSONAL_PATHS: frozenset[str] = frozenset(PERSONAL_LEAVES)
# Every dotted prefix of a personal path ("customer", "customer.billing", …): where to look deeper.
_ANCESTORS: frozenset[str] = frozenset(
    path.rsplit(".", depth)[0] for path in PERSONAL_PATHS for depth in range(1, path.count(".") + 1)
)

MASK = "***"
DOB_MASK = "****-**-**"
PARAMS = "params"  # a ``mask_rows`` column holding a whole parameters dict (or its JSON text)


def _kind(path: str) -> str:
    """How a personal field is masked: by its schema format, else by its leaf name, else generic."""
    schema = PERSONAL_LEAVES[path]
    by_format = {"email": "email", "date": "dob", "ip-address": "ip"}.get(schema.get("format", ""))
    if by_format:
        return by_format
    if path.endswith("phone.number"):
        return "phone"
    return "initial"


def _initial(text: str) -> str:
    return text[:1] + MASK if text else ""


def _email(text: str) -> str:
    local, at, domain = text.rpartition("@")
    return f"{_initial(local)}@{domain}" if at and local else _initial(text)


def _phone(text: str) -> str:
    digits = "".join(ch for ch in text if ch.isdigit())
    return f"{MASK} {digits[-4:]}" if len(digits) > 4 else MASK  # a short number would be shown whole


def _ip(text: str) -> str:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return MASK
    if address.version == 4:
        return f"{MASK}.{MASK}.{MASK}.{str(address).rsplit('.', 1)[1]}"
    return MASK


_MASKERS = {"email": _email, "phone": _phone, "ip": _ip, "dob": lambda text: DOB_MASK if text else "",
            "initial": _initial}


def mask_value(path: str, value: Any) -> Any:
    """``value`` of the field at ``path`` as a masked string; values of other fields unchanged.

    Empty and missing values stay empty (``""``): "not given" is not personal. A value of the wrong
    type (QA sends odd ones) is masked whole.
    """
    if path not in PERSONAL_PATHS:
        return value
    if value is None or value == "":
        return ""
    if isinstance(value, (Mapping, list, tuple)):
        return MASK
    return _MASKERS[_kind(path)](str(value))


def _mask_at(path: str, value: Any) -> Any:
    """``value`` found at ``path`` (a leaf or an object above leaves), with every personal leaf masked."""
    if path in PERSONAL_PATHS:
        return value if value is None else mask_value(path, value)
    if path and path not in _ANCESTORS:
        return value
    if isinstance(value, Mapping):
        return {key: _mask_at(f"{path}.{key}" if path else str(key), sub) for key, sub in value.items()}
    if isinstance(value, (list, tuple)):  # an object where the schema has one, sent as a list (QA)
        return [_mask_at(path, item) for item in value]
    return value


def mask_params(params: Mapping[str, Any], *, enabled: bool = True) -> dict[str, Any] | Mapping[str, Any]:
    """A copy of session parameters (nested, as sent) with every personal field masked."""
    return _mask_at("", params) if enabled else params


def mask_changes(changes: Iterable[Mapping[str, Any]], *, enabled: bool = True) -> list[Mapping[str, Any]]:
    """``registry.diff_params`` output (``path``/``before``/``after``) with personal values masked."""
    if not enabled:
        return list(changes)
    return [{**c, "before": _mask_at(c["path"], c["before"]), "after": _mask_at(c["path"], c["after"])}
            for c in changes]


def mask_entry(entry: Mapping[str, Any] | None, *, enabled: bool = True) -> Mapping[str, Any] | None:
    """A call-log entry whose ``detail.body`` (the request sent, or the answer) is masked."""
    if not enabled or entry is None or not isinstance(entry.get("detail"), Mapping):
        return entry
    detail = entry["detail"]
    if "body" not in detail:
        return entry
    return {**entry, "detail": {**detail, "body": _mask_params_cell(detail["body"])}}


def _mask_params_cell(value: Any) -> Any:
    """A parameters dict, or its JSON text, masked; JSON that does not parse is hidden whole."""
    if isinstance(value, str):
        try:
            parsed = jsonutil.loads(value)
        except ValueError:
            return MASK if value else value
        return jsonutil.dumps(_mask_at("", parsed)) if isinstance(parsed, (Mapping, list)) else value
    return _mask_at("", value)


def mask_rows(rows: Iterable[Mapping[str, Any]], columns: Mapping[str, str], *,
              enabled: bool = True) -> list[dict[str, Any]]:
    """Grid or export rows with the named columns masked; other columns unchanged.

    ``columns`` maps a column to the dotted path of the personal field it holds, or to
    :data:`PARAMS` when it holds a whole parameters dict or its JSON text.
    """
    rows = list(rows)
    unknown = {path for path in columns.values() if path != PARAMS and path not in PERSONAL_PATHS}
    if unknown:
        raise ValueError(f"not personal fields (nothing to mask): {', '.join(sorted(unknown))}")
    if not enabled:
        return [dict(row) for row in rows]
    return [{name: (value if name not in columns else
                    _mask_params_cell(value) if columns[name] == PARAMS else mask_value(columns[name], value))
             for name, value in row.items()} for row in rows]

