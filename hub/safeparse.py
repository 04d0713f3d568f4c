"""Strict parsing of webhook bodies: JSON without ambiguities, XML without DTDs or entities.

Both raise `MalformedPayload` with a message that says what is wrong, and never anything else for bad input.
"""

from __future__ import annotations

import json
import math
from itertools import accumulate
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml.ElementTree import fromstring

from hub.errors import MalformedPayload

_NOT_BRACKETS = bytes(byte for byte in range(256) if byte not in b"[]{}")
_BRACKET_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def parse_json(body: bytes, *, max_depth: int = 64) -> Any:
    """Parse a JSON body strictly: UTF-8, no NaN or Infinity, no duplicate keys, nested at most `max_depth` deep."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedPayload(
            f"body is not valid UTF-8: byte 0x{body[exc.start]:02x} at offset {exc.start} ({exc.reason})"
        ) from exc
    # Checked before parsing: the json module recurses once per level, so a deep body would exhaust the stack.
    depth = _nesting_depth(body, max_depth)
    if depth > max_depth:
        raise MalformedPayload(f"JSON is nested {depth} levels deep; the limit is {max_depth}")
    try:
        return json.loads(
            text,
            object_pairs_hook=_object_without_duplicates,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
        )
    except json.JSONDecodeError as exc:
        raise MalformedPayload(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from exc
    except ValueError as exc:  # an integer longer than Python's int conversion allows
        raise MalformedPayload(f"invalid JSON: {exc}") from exc


def _nesting_depth(body: bytes, max_depth: int) -> int:
    """Return how deeply arrays and objects nest in `body` outside strings (0 if too few to pass `max_depth`)."""
    # Fast path for the usual webhook: too few opening brackets to ever exceed the limit.
    if body.count(b"[") + body.count(b"{") <= max_depth:
        return 0
    # Bytes operations only, no per-byte Python loop. UTF-8 multi-byte sequences hold no ASCII bytes, so quotes
    # and brackets are found reliably. Dropping escaped backslashes, then escaped quotes, leaves only the quotes
    # that open or close strings: every other piece of the split lies outside strings.
    unescaped = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    outside_strings = b"".join(unescaped.split(b'"')[::2])
    brackets = outside_strings.translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_BRACKET_STEP.__getitem__, brackets)), default=0)


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Build a JSON object, refusing a key given twice (parsers disagree on which value wins)."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise MalformedPayload(f"duplicate key {key!r} in a JSON object")
            seen.add(key)
    return obj


def _refuse_constant(name: str) -> Any:
    """Refuse the NaN, Infinity and -Infinity literals, which JSON does not have."""
    raise MalformedPayload(f"{name} is not a JSON number")


def _finite_float(literal: str) -> float:
    """Read a JSON number as a float, refusing one too large to be finite (such as 1e400)."""
    value = float(literal)
    if not math.isfinite(value):
        raise MalformedPayload(f"number {literal} is out of range")
    return value


def parse_xml(body: bytes) -> Element:
    """Parse an XML body with defusedxml, refusing DTDs, entity declarations and external references."""
    try:
        return fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DTDForbidden as exc:
        raise MalformedPayload(_why_dtd_refused(body, exc)) from exc
    except (EntitiesForbidden, ExternalReferenceForbidden) as exc:
        raise MalformedPayload(_why_refused(exc)) from exc
    except ParseError as exc:
        raise MalformedPayload(f"malformed XML: {exc}") from exc
    except (LookupError, ValueError) as exc:  # expat refuses unknown and multi-byte declared encodings
        raise MalformedPayload(f"unsupported XML encoding: {exc}") from exc


def _why_dtd_refused(body: bytes, refusal: DTDForbidden) -> str:
    """Name what a refused DTD declares, by parsing again with the DTD allowed but entities still forbidden."""
    # Every DTD is refused, but "declares entity 'lol'" tells an operator more than "has a DTD".
    try:
        fromstring(body, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except (EntitiesForbidden, ExternalReferenceForbidden) as exc:
        return _why_refused(exc)
    except ParseError:
        pass
    if refusal.sysid or refusal.pubid:
        return f"XML external DTD {refusal.sysid or refusal.pubid!r} refused"
    return "XML document type declarations (DTDs) are refused"


def _why_refused(exc: EntitiesForbidden | ExternalReferenceForbidden) -> str:
    """Describe an entity declaration or external reference defusedxml refused."""
    if isinstance(exc, ExternalReferenceForbidden):
        return f"XML external reference to {exc.sysid or exc.pubid!r} refused"
    if exc.sysid or exc.pubid:
        return f"XML external entity {exc.name!r} ({exc.sysid or exc.pubid}) refused"
    return f"XML entity declaration {exc.name!r} refused (entity expansion, as in 'billion laughs')"
