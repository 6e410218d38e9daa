"""The consumer-visible shape of a JSON Schema: field paths, their types and whether required."""

from __future__ import annotations

from typing import Any


def shape(schema: dict[str, Any], prefix: str = "") -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    required = set(schema.get("required", ()))
    for name, prop in schema.get("properties", {}).items():
        path = f"{prefix}{name}"
        kind = prop.get("type") or ("enum" if "enum" in prop else "const" if "const" in prop else "any")
        out[path] = {"type": kind if isinstance(kind, str) else sorted(kind), "required": name in required}
        if prop.get("type") == "object":
            out.update(shape(prop, f"{path}."))
        if prop.get("type") == "array" and isinstance(prop.get("items"), dict):
            out.update(shape(prop["items"], f"{path}[]."))
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
