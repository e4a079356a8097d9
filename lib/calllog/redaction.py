"""Secrets out of everything the call log stores: by the names the field gives them, and in URLs.

A deny-list of a few exact key names missed ``x-api-key``, ``proxy-authorization``, ``clientSecret``,
``db_password`` and a password inside a webhook URL. A key is secret here when one of its words
(split at ``-``, ``_``, spaces, dots and camelCase) is a secret word (``token``, ``secret``,
``password``, ``cookie``, ``authorization``, ``credential``…), or it is a key word after ``api``,
``app``, ``private``… — unless its last word says it describes a secret rather than holds one
(``token_type``, ``token_url``, ``expires_in`` has no secret word at all): the API's login answer
keeps ``token_type`` and ``expires_in`` readable while ``access_token`` goes.

Strings are searched too: ``user:password@`` in a URL keeps the user and loses the password (the
whole user part when there is no password: it is then the credential), and a query parameter
named like a secret loses its value. Raw bodies kept as text (``jsonutil.UNPARSED``) have the
values of secret-named members replaced in the text itself.
"""
from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from decimal import Decimal
from functools import lru_cache
from typing import Any
from urllib.parse import unquote_plus

from lib.common import jsonutil

REDACTED = "[REDACTED]"

_SECRET_WORDS = frozenset({
    "token", "tokens", "secret", "secrets", "password", "passwords", "passwd", "passphrase", "pwd", "cookie",
    "cookies", "authorization", "credential", "credentials", "apikey", "appkey", "privatekey", "jwt", "bearer",
})
_KEY_OWNERS = frozenset({"api", "app", "private", "secret", "signing", "access", "client", "master", "encryption"})
# A last word that makes the key a description of a secret, not the secret (token_type: "Bearer").
_DESCRIBES = frozenset({"type", "types", "ttl", "expires", "expiry", "expiration", "url", "uri", "endpoint", "hint",
                        "length", "count", "name", "path", "file", "required", "set", "present"})
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
# user[:password]@ right after the scheme; the password may hold "@" (the last one ends it), and
# neither part crosses quotes or white space (the URL may sit inside JSON text).
_URL_USER = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^\s/?#:@\"'<>\\]*)"
                       r"(?::(?P<password>[^\s/?#\"'<>\\]*))?@")
_QUERY = re.compile(r"(?P<lead>[?&;])(?P<name>[^=&;#\s]+)=(?P<value>[^&;#\s]*)")
# A JSON member whose value is a string, in raw text: "name" : "value".
_MEMBER = re.compile(r'"(?P<name>(?:[^"\\]|\\.)*)"(?P<colon>\s*:\s*)"(?P<value>(?:[^"\\]|\\.)*)"')


@lru_cache(maxsize=4096)
def is_secret_key(name: str) -> bool:
    """Whether a key of this name holds a secret (see the module docstring for the rule). Cached:
    the same few header and field names come by on every log entry."""
    words = [w.lower() for w in _WORDS.findall(name)]
    if not words or words[-1] in _DESCRIBES:
        return False
    if any(w in _SECRET_WORDS for w in words):
        return True
    return any(w == "key" and i and words[i - 1] in _KEY_OWNERS for i, w in enumerate(words))


def redact_text(text: str) -> str:
    """``text`` with credentials in URLs and secret-named query parameters replaced."""
    if "@" in text and "://" in text:
        text = _URL_USER.sub(_without_password, text)
    if "=" in text:
        text = _QUERY.sub(lambda m: m.group(0) if not is_secret_key(unquote_plus(m["name"])) else
                          f"{m['lead']}{m['name']}={REDACTED}", text)
    return text


def _without_password(match: re.Match[str]) -> str:
    if match["password"] is None:
        return f"{match['scheme']}{REDACTED}@" if match["user"] else match.group(0)
    return f"{match['scheme']}{match['user']}:{REDACTED}@"


def redact_json_text(text: str) -> str:
    """Raw JSON text with the string values of secret-named members replaced (and URLs redacted)."""
    def member(m: re.Match[str]) -> str:
        try:
            name = jsonutil.loads(f'"{m["name"]}"')
        except ValueError:
            name = m["name"]
        if isinstance(name, str) and is_secret_key(name):
            return f'"{m["name"]}"{m["colon"]}"{REDACTED}"'
        return m.group(0)

    return redact_text(_MEMBER.sub(member, text))


# Values kept as they are, told by their exact type before the Mapping check (an ABC's, the slow
# one): most of what a log entry's detail holds.
_KEPT = frozenset({int, float, bool, type(None), Decimal})


def redact(obj: Any) -> Any:
    """A copy of ``obj`` with secret-named keys' values (any depth, any case) and credentials in
    strings replaced. Any Mapping counts (``requests`` headers are a CaseInsensitiveDict, not a
    dict); it comes back as a plain dict so it can be serialised."""
    kind = type(obj)
    if kind is str:
        return redact_text(obj)
    if kind in _KEPT:
        return obj
    if kind is dict or isinstance(obj, Mapping):
        return {k: REDACTED if isinstance(k, str) and is_secret_key(k) else _redact_member(k, v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [redact(v) for v in obj]
    if isinstance(obj, str):
        return redact_text(obj)
    return obj


def _redact_member(key: Any, value: Any) -> Any:
    """Raw bodies kept under the unparsed markers are redacted as text (base64 decoded and back)."""
    if key == jsonutil.UNPARSED and isinstance(value, str):
        return redact_json_text(value)
    if key == jsonutil.UNPARSED_BASE64 and isinstance(value, str):
        try:
            raw = base64.b64decode(value, validate=True).decode("utf-8", "surrogateescape")
        except ValueError:
            return value
        return base64.b64encode(redact_json_text(raw).encode("utf-8", "surrogateescape")).decode("ascii")
    return redact(value)


def detail_text(detail: Mapping[str, Any]) -> str:
    """``detail`` redacted, as the JSON text stored. Never raises for what a value holds: a
    top-level value that cannot be written faithfully is replaced by a note of why, so an entry is
    never lost to its detail (callers keep answers recordable first: ``jsonutil.read_answer``)."""
    try:
        return jsonutil.dumps(redact(detail))
    except (ValueError, TypeError, RecursionError):
        pass
    kept: dict[str, Any] = {}
    for key, value in detail.items():
        name = _storable(str(key))
        try:
            item = redact({name: value})
            jsonutil.dumps(item)
        except (ValueError, TypeError, RecursionError) as exc:
            item = {name: {"unrecordable": _storable(f"{type(exc).__name__}: {exc}")}}
        kept.update(item)
    return jsonutil.dumps(kept)


def _storable(text: str) -> str:
    """``text`` with anything UTF-8 cannot carry (lone surrogates) written as escapes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
