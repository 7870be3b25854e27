"""The JSON schema of a tool's arguments as the model reads it in the tool list.

Pydantic gives every schema and property a `title` made from its name, and an optional argument
that defaults to None the type `anyOf: [{type: X}, {type: null}]` with `default: null`. The model
learns nothing from either: an argument that is not required may be left out already. The lean
schema drops both; calls are still validated against the tool's own signature.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

NULL = {"type": "null"}

_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
"""Keywords whose value is a list of schemas."""
_SCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties")
"""Keywords whose value maps names (not keywords) to schemas."""
_SCHEMA_VALUES = ("items", "additionalProperties", "not", "if", "then", "else", "contains")
"""Keywords whose value is one schema."""


def lean_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """`schema` without generated titles, each optional argument that defaults to None given as
    its plain type. A new dict: `schema` is left as it is."""
    lean = _lean(schema)
    required = set(schema.get("required") or ())
    properties = lean.get("properties")
    if isinstance(properties, dict):
        lean["properties"] = {
            name: prop if name in required else _plain_optional(prop) for name, prop in properties.items()
        }
    return lean


def _lean(node: Mapping[str, Any]) -> dict[str, Any]:
    """A schema without `title`, in it and in the schemas it holds."""
    lean: dict[str, Any] = {}
    for key, value in node.items():
        if key == "title":
            continue
        if key in _SCHEMA_LISTS and isinstance(value, list):
            value = [_lean(v) if isinstance(v, Mapping) else v for v in value]
        elif key in _SCHEMA_MAPS and isinstance(value, Mapping):
            value = {name: _lean(v) if isinstance(v, Mapping) else v for name, v in value.items()}
        elif key in _SCHEMA_VALUES and isinstance(value, Mapping):
            value = _lean(value)
        lean[key] = value
    return lean


def _plain_optional(prop: dict[str, Any]) -> dict[str, Any]:
    """An argument that defaults to None, without that default and without null among its types:
    `{type: X, ...}` when one type is left."""
    if "default" not in prop or prop["default"] is not None:
        return prop
    rest = {key: value for key, value in prop.items() if key != "default"}
    variants = rest.pop("anyOf", None)
    if not isinstance(variants, list) or NULL not in variants:
        return rest
    kept = [variant for variant in variants if variant != NULL]
    if len(kept) != 1:
        return {"anyOf": kept, **rest} if kept else rest
    only = kept[0]
    if set(only) & set(rest):  # its own description or constraints beside the property's
        return {"anyOf": kept, **rest}
    ordered = {"type": only["type"]} if "type" in only else {}
    return {**ordered, **only, **rest}
