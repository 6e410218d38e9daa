"""The consumer-visible shape of a JSON Schema: field paths, their types and whether required."""

from __future__ import annotations

from typing import Any


def _resolve(prop: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """Follow a local ``$ref`` ("#/$defs/...")."""
    while "$ref" in prop:
        node: Any = root
        for part in prop["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        prop = node
    return prop


def shape(schema: dict[str, Any], prefix: str = "", root: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    root = schema if root is None else root
    out: dict[str, dict[str, Any]] = {}
    required = set(schema.get("required", ()))
    for name, prop in schema.get("properties", {}).items():
        prop = _resolve(prop, root)
        path = f"{prefix}{name}"
        kind = prop.get("type") or ("enum" if "enum" in prop else "const" if "const" in prop else "any")
        out[path] = {"type": kind if isinstance(kind, str) else sorted(kind), "required": name in required}
        if prop.get("type") == "object":
            out.update(shape(prop, f"{path}.", root))
        if prop.get("type") == "array" and isinstance(prop.get("items"), dict):
            out.update(shape(_resolve(prop["items"], root), f"{path}[].", root))
    return out


def breaking_changes(frozen: dict[str, dict[str, Any]], current: dict[str, dict[str, Any]]) -> list[str]:
    """What would break a consumer written against ``frozen``: removed, retyped or no longer
    guaranteed fields. Added fields are not breaking (consumers ignore unknown fields)."""
    problems = []
    for path, was in frozen.items():
        now = current.get(path)
        if now is None:
            problems.append(f"removed {path}")
        elif now["type"] != was["type"]:
            problems.append(f"retyped {path}: {was['type']} -> {now['type']}")
        elif was["required"] and not now["required"]:
            problems.append(f"{path} no longer required")
    return problems
