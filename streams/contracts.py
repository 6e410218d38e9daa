"""The contracts in ``schemas/`` compiled into validators: the single source of truth for messages."""

from __future__ import annotations

import base64
import os
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs
import orjson

from streams.core.events import Event

SCHEMA_DIR = Path(os.environ.get("CHURNGUARD_SCHEMA_DIR", Path(__file__).resolve().parent.parent / "schemas"))


class ContractError(ValueError):
    """A message that does not satisfy its contract; ``reason`` is 'undecodable' or 'invalid'."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def schema_path(name: str, version: int = 1) -> Path:
    return SCHEMA_DIR / f"{name}.v{version}.json"


@cache
def load_schema(name: str, version: int = 1) -> dict[str, Any]:
    return orjson.loads(schema_path(name, version).read_bytes())


@cache
def validator(name: str, version: int = 1) -> Any:
    """A compiled validator for the schema file (jsonschema-rs: the full draft 2020-12, in Rust)."""
    return jsonschema_rs.validator_for(load_schema(name, version))


def validate(name: str, doc: Any, version: int = 1) -> None:
    v = validator(name, version)
    if not v.is_valid(doc):  # the fast path; the error is built only for invalid documents
        error = next(v.iter_errors(doc))
        path = "/".join(str(p) for p in error.instance_path)
        raise ContractError("invalid", f"{path or '(document)'}: {error.message}")


def decode(name: str, raw: bytes) -> dict[str, Any]:
    """Decode one record and validate it against contract ``name``, or raise ContractError."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ContractError("undecodable", f"not JSON: {exc}") from None
    validate(name, doc)
    return doc  # type: ignore[no-any-return]


def decode_event(kind: str, raw: bytes) -> Event:
    """Decode and validate one input record, or raise ContractError."""
    doc = decode(kind, raw)
    return Event(kind, doc["event_id"], doc["user_id"], doc["ts"], doc)


def dead_letter(reason: str, detail: str, source_topic: str, source_partition: int, source_offset: int,
                payload: Any) -> dict[str, Any]:
    """A dead_letter.v1 document; the payload as UTF-8 text if it decodes, else base64 with a prefix."""
    data = payload if isinstance(payload, bytes) else (b"" if payload is None else str(payload).encode())
    try:
        text = data.decode()
    except UnicodeDecodeError:
        text = "base64:" + base64.b64encode(data).decode()
    return {"schema": "dead_letter.v1", "reason": reason, "detail": detail[:1000], "source_topic": source_topic,
            "source_partition": source_partition, "source_offset": source_offset, "payload": text}


def encode(doc: dict[str, Any]) -> bytes:
    return orjson.dumps(doc)
