"""Hypothesis strategies for documents that satisfy our JSON Schemas, built from the schema files
themselves, with the extremes the schemas allow (bounds, longest strings, any Unicode, optional
fields absent or present, unknown extra fields).

hypothesis-jsonschema would be the library for this, but its last release (0.23.1) fails on the
Hypothesis versions we use (AttributeError: 'many' object has no attribute 'more'); our schemas use
a small subset of JSON Schema, which this covers.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

MAX_INT = 2**63 - 1


def _integer(schema: dict[str, Any]) -> st.SearchStrategy[int | float]:
    lo, hi = int(schema.get("minimum", -MAX_INT)), int(schema.get("maximum", MAX_INT))
    ints = st.one_of(st.sampled_from(sorted({lo, hi, max(lo, min(hi, 0)), max(lo, min(hi, 1))})), st.integers(lo, hi))
    # JSON Schema counts 4.0 as an integer: whole floats (those a double holds exactly) come too.
    exact = st.integers(max(lo, -2**53), min(hi, 2**53)).map(float) if max(lo, -2**53) <= min(hi, 2**53) else st.nothing()
    return st.one_of(ints, exact)


def _number(schema: dict[str, Any]) -> st.SearchStrategy[float]:
    lo, hi = schema.get("minimum", -1e300), schema.get("maximum", 1e300)
    return st.one_of(st.sampled_from([float(lo), float(hi)]), st.integers(int(lo), int(hi)).map(float),
                     st.floats(lo, hi, allow_nan=False, allow_infinity=False))


def _string(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    if "pattern" in schema:
        return st.from_regex(schema["pattern"], fullmatch=True)
    lo, hi = schema.get("minLength", 0), schema.get("maxLength", 300)
    text = st.text(min_size=lo, max_size=hi)
    return st.one_of(text, st.just("\u00e9" * hi), st.just("x" * max(lo, 1)) if hi >= 1 else st.just(""),
                     st.text(alphabet=st.characters(min_codepoint=0x1F600, max_codepoint=0x1F64F), min_size=lo,
                             max_size=hi))


def from_schema(schema: dict[str, Any], extra_fields: bool = True) -> st.SearchStrategy[Any]:
    """Documents valid against ``schema`` (the subset our schemas use)."""
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if isinstance(kind, list):
        return st.one_of(*(from_schema({**schema, "type": k}, extra_fields) for k in kind))
    if kind == "integer":
        return _integer(schema)
    if kind == "number":
        return _number(schema)
    if kind == "string":
        return _string(schema)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "object":
        props = schema.get("properties", {})
        required = [name for name in schema.get("required", []) if name in props]
        optional = [name for name in props if name not in required]
        fixed = st.fixed_dictionaries({name: from_schema(props[name], extra_fields) for name in required},
                                      optional={name: from_schema(props[name], extra_fields) for name in optional})
        if not (extra_fields and schema.get("additionalProperties", True) is not False):
            return fixed
        unknown = st.dictionaries(st.text(min_size=1, max_size=20).filter(lambda k: k not in props),
                                  st.one_of(st.none(), st.integers(-MAX_INT, MAX_INT), st.text(max_size=50)), max_size=3)
        return st.builds(lambda extra, doc: {**extra, **doc}, unknown, fixed)
    raise NotImplementedError(f"schema construct not covered: {schema}")
