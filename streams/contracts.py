"""The contracts in ``schemas/`` compiled into validators: the single source of truth for messages."""

from __future__ import annotations

import base64
import hashlib
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema_rs
import orjson

from streams.core.events import Event

# schemas/ as package data (streams/schemas links to it): a checkout and an installed wheel alike.
SCHEMA_DIR = Path(str(files("streams") / "schemas"))


# A dead letter keeps at most this much of the record (the producer's request limit is 1 MiB).
MAX_DEAD_LETTER_PAYLOAD_BYTES = 65_536
MAX_DEAD_LETTER_DETAIL = 1000


class ContractError(ValueError):
    """A message that does not satisfy its contract; ``reason`` is 'undecodable' or 'invalid'.

    ``detail`` may quote the offending value (it goes into the dead letter, beside the payload);
    ``field`` and ``rule`` never do: they are what logs may carry."""

    def __init__(self, reason: str, detail: str, field: str = "", rule: str = "") -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.field = field
        self.rule = rule


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
        # Keys a producer chose (inside attributes) are content: the path names them '*'.
        parts = [str(p) for p in error.instance_path]
        if "attributes" in parts:
            parts = parts[:parts.index("attributes") + 1] + ["*"] * (len(parts) - parts.index("attributes") - 1)
        path = "/".join(parts) or "(document)"
        rule = str(error.schema_path[-1]) if error.schema_path else ""
        raise ContractError("invalid", f"{path}: {error.message}", path, rule)


def decode(name: str, raw: bytes) -> dict[str, Any]:
    """Decode one record and validate it against contract ``name``, or raise ContractError."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ContractError("undecodable", f"not JSON: {exc}", rule="json") from None
    validate(name, doc)
    return doc  # type: ignore[no-any-return]


def decode_event(kind: str, raw: bytes) -> Event:
    """Decode and validate one input record, or raise ContractError. JSON Schema counts 1.7e12 as an
    integer; event time is made one here, so the core only ever sees int milliseconds. The event
    keeps the record's bytes, not the decoded document: it decodes them again when released from
    the reorder buffer (streams/core/events.py)."""
    doc = decode(kind, raw)
    return Event(kind, doc["event_id"], doc["user_id"], int(doc["ts"]), bytes(raw))


def dead_letter(reason: str, detail: str, source_topic: str, source_partition: int, source_offset: int,
                payload: Any) -> dict[str, Any]:
    """A dead_letter.v1 document, bounded in size: the payload as UTF-8 text if it decodes, else
    base64 with a prefix; at most MAX_DEAD_LETTER_PAYLOAD_BYTES of it, with the full length and
    SHA-256 recorded, so that any record can be dead-lettered."""
    data = payload if isinstance(payload, bytes) else (b"" if payload is None else str(payload).encode())
    kept = data[:MAX_DEAD_LETTER_PAYLOAD_BYTES]
    try:
        text = kept.decode()
    except UnicodeDecodeError:
        text = "base64:" + base64.b64encode(kept).decode()
    return {"schema": "dead_letter.v1", "reason": reason, "detail": detail[:MAX_DEAD_LETTER_DETAIL],
            "source_topic": source_topic, "source_partition": source_partition, "source_offset": source_offset,
            "payload": text, "payload_bytes": len(data), "payload_sha256": hashlib.sha256(data).hexdigest(),
            "payload_truncated": len(kept) < len(data)}


def encode(doc: dict[str, Any]) -> bytes:
    return orjson.dumps(doc)
