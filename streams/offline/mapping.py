"""How an export's rows become contract documents: the mapping file (TOML), one table per kind.

Every contract field comes from one source: a column, a constant, a template over columns, the
product of numeric columns (a line's quantity x unit price), or a stable hash of the row (for
exports without ids). A column may feed several fields. Times take
an explicit format and time zone (UTC unless the mapping says otherwise, never the machine's).
Columns that feed nothing are listed in the run summary; ``attributes`` carries chosen ones (or
all of them) into the event's ``attributes`` object, which the input contracts allow.

    [purchase]
    timezone = "Asia/Taipei"          # IANA name or a fixed offset such as "+08:00"; default UTC
    delimiter = ","                   # CSV: "," (default), ";", "\\t", or "whitespace"
    encoding = "cp1252"               # the file's text encoding; default UTF-8 (see below)
    decimal = ","                     # numbers written 1.234,50 (default "."; see below)
    columns = ["CUSTOMER_ID", "TRANSACTION_DT", "AGE_GROUP"]  # only for a file without a header line
    attributes = ["AGE_GROUP", "PIN_CODE"]  # or "unmapped": every column that feeds no field
    [purchase.fields]
    user_id = "CUSTOMER_ID"                                    # a column
    ts = { column = "TRANSACTION_DT", format = "%m/%d/%Y" }    # strptime pattern, epoch_ms, epoch_s, epoch_days, excel, iso8601
    order_id = { template = "{CUSTOMER_ID}-{TRANSACTION_DT}" }
    event_id = { hash = "row" }                                # stable hash of the row's content
    currency = { constant = "TWD" }
    status = { column = "InvoiceNo", values = { "C*" = "cancelled" }, default = "completed" }
    amount = { product = ["Quantity", "UnitPrice"], absolute = true }  # a line's value; returns are negative

``columns`` names the columns of an export that has no header line (the original CDNOW log, many
database dumps): its first line is then a row like the others; cells beyond the names are dropped
and missing ones are empty. Without it the first line is the header.

``encoding`` names the codec of a delimited export (any Python codec: "cp1252", "latin-1",
"utf-16", "shift_jis"). Without it the file is read as UTF-8, and a line that is not UTF-8 is read
as Windows-1252 instead (spreadsheets on Western Windows save that, and an online shop's export of
product names in it is common): the run summary and ``--check`` count such lines and name the
first, rather than the whole file failing on one accented letter.

``decimal = ","`` reads numbers as much of Europe writes them: "12,50" is 12.5 and "1.234,50"
(or "1 234,50") is 1234.5. Without it a comma in a number is an error of the row naming the value,
never a silent hundredfold ("12,50" read as 1250).

``values`` translates an export's own vocabulary (a status "Shipped", an invoice number starting
with "C" for a cancellation): the first pattern (shell-style: ``*``, ``?``, ``[...]``) the stripped
cell matches gives the field's value; no match takes ``default``, or without one is an error of the
row naming the value.

A contract field the table does not mention is taken from the column of the same name, if any.
The older keys still work: ``ts_unit`` (ms | s | iso8601) is the format of ``ts``, and
``defaults`` are constants. A value that cannot be converted is an error of that row naming the
field, the column and the raw value: never a silent 1970.
"""

from __future__ import annotations

import codecs
import decimal
import hashlib
import math
from fnmatch import fnmatchcase
from functools import lru_cache
import re
import tomllib
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from streams.contracts import load_schema
from streams.core.events import INPUT_KINDS

# Or any strptime pattern (contains '%'). epoch_days: a day number (a panel's "DAY 1 .. 711" reads as
# days after 1970-01-01, UTC: only differences count); excel: a spreadsheet's serial date (days since
# 1899-12-30, the fraction the time of day), a wall time in the mapping's zone.
TIME_FORMATS = ("epoch_ms", "epoch_s", "epoch_days", "excel", "iso8601")
_EPOCH_UNIT_MS = {"epoch_ms": 1, "epoch_s": 1000, "epoch_days": 86_400_000}
_EXCEL_ORIGIN = datetime(1899, 12, 30)
LEGACY_TS_UNITS = {"ms": "epoch_ms", "s": "epoch_s", "iso8601": "iso8601"}
DELIMITERS = {",": ",", ";": ";", "\t": "\t", "\\t": "\t", "|": "|", "whitespace": None}
MAX_ATTRIBUTES = 16  # the contracts' bound on the attributes object
MAX_ATTRIBUTE_CHARS = 64
_TEMPLATE_NAME = re.compile(r"\{([^{}]+)\}")


class RowError(ValueError):
    """A row the mapping cannot convert: which field, from which column, and the raw value."""


@dataclass(frozen=True)
class FieldSource:
    column: str | None = None
    constant: Any = None
    template: str | None = None
    hash_row: bool = False
    time_format: str = "epoch_ms"  # for ts only
    product: tuple[str, ...] = ()  # columns whose numbers multiply into the value
    absolute: bool = False  # the product's magnitude (exports write returned lines as negative quantities)
    values: tuple[tuple[str, Any], ...] = ()  # (pattern, value) in the mapping's order
    default: Any = None
    has_default: bool = False

    def columns(self) -> set[str]:
        if self.column is not None:
            return {self.column}
        if self.template is not None:
            return set(_TEMPLATE_NAME.findall(self.template))
        return set(self.product)

    def describe(self) -> str:
        if self.column is not None:
            return f"column {self.column!r}"
        if self.template is not None:
            return f"template {self.template!r}"
        if self.product:
            return f"product of {list(self.product)}"
        return "row hash" if self.hash_row else f"constant {self.constant!r}"

    def translate(self, field_name: str, value: Any) -> Any:
        """The value ``values`` gives a cell (RowError if none matches and there is no default)."""
        text = str(value).strip()
        for pattern, mapped in self.values:
            if fnmatchcase(text, pattern):
                return mapped
        if self.has_default:
            return self.default
        raise RowError(f"{field_name}: {self.describe()} value {text[:80]!r} matches none of "
                       f"{[p for p, _ in self.values][:10]} and the field has no default")


@dataclass(frozen=True)
class KindMapping:
    fields: dict[str, FieldSource] = field(default_factory=dict)  # contract field -> its source
    timezone: str = "UTC"
    delimiter: str | None = ","  # None: runs of whitespace
    attributes: tuple[str, ...] | str = ()  # columns carried as attributes, or "unmapped"
    columns: tuple[str, ...] = ()  # the names of a file without a header line, in order
    encoding: str | None = None  # a codec name; None: UTF-8, lines that are not read as Windows-1252
    decimal: str = "."  # the decimal mark of the export's numbers: "." or ","

    @property
    def identity(self) -> bool:
        return not self.fields and not self.attributes

    def tz(self) -> tzinfo:
        return parse_timezone(self.timezone)


Mapping = dict[str, KindMapping]


@lru_cache(maxsize=64)
def parse_timezone(text: str) -> tzinfo:
    if text.upper() in ("UTC", "Z"):
        return timezone.utc
    m = re.fullmatch(r"([+-])(\d\d):?(\d\d)", text)
    if m:
        offset = timedelta(hours=int(m[2]), minutes=int(m[3]))
        return timezone(-offset if m[1] == "-" else offset)
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {text!r}: an IANA name (Europe/Paris) or an offset (+08:00)") from exc


def _field_source(kind: str, name: str, spec: Any) -> FieldSource:
    where = f"[{kind}.fields] {name}"
    if isinstance(spec, str):
        return FieldSource(column=spec)
    if not isinstance(spec, dict) or len(set(spec) & {"column", "constant", "template", "hash", "product"}) != 1:
        raise ValueError(f"{where}: give a column name, or a table with one of column, constant, template, hash, product")
    product = spec.get("product", [])
    if not (isinstance(product, list) and all(isinstance(c, str) for c in product)) or ("product" in spec and not product):
        raise ValueError(f"{where}: product must be a list of column names")
    if "absolute" in spec and not ("product" in spec and isinstance(spec["absolute"], bool)):
        raise ValueError(f"{where}: absolute = true or false, with a product")
    fmt = spec.get("format", "epoch_ms")
    if fmt != "epoch_ms" and name != "ts":
        raise ValueError(f"{where}: format applies to ts only")
    if fmt not in TIME_FORMATS and "%" not in fmt:
        raise ValueError(f"{where}: format must be one of {TIME_FORMATS} or a strptime pattern, not {fmt!r}")
    if "hash" in spec and spec["hash"] != "row":
        raise ValueError(f"{where}: hash = \"row\" is the only hash")
    unknown = set(spec) - {"column", "constant", "template", "hash", "product", "absolute", "format", "values", "default"}
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
    values = spec.get("values", {})
    if ("values" in spec or "default" in spec) and not ({"column", "template"} & set(spec)):
        raise ValueError(f"{where}: values and default translate a column or a template")
    if not isinstance(values, dict) or ("default" in spec and not values):
        raise ValueError(f"{where}: values must be a table of pattern = value")
    return FieldSource(column=spec.get("column"), constant=spec.get("constant"), template=spec.get("template"),
                       hash_row="hash" in spec, time_format=fmt, product=tuple(product),
                       absolute=spec.get("absolute", False), values=tuple(values.items()),
                       default=spec.get("default"), has_default="default" in spec)


def parse_kind(kind: str, table: dict[str, Any]) -> KindMapping:
    known = {"fields", "timezone", "delimiter", "attributes", "ts_unit", "defaults", "columns", "encoding", "decimal"}
    unknown = set(table) - known
    if unknown:
        raise ValueError(f"[{kind}]: unknown keys {sorted(unknown)}; expected some of {sorted(known)}")
    props = load_schema(kind)["properties"]
    sources = {name: _field_source(kind, name, spec) for name, spec in table.get("fields", {}).items()}
    for name in sources:
        if name not in props or name == "attributes":
            raise ValueError(f"[{kind}.fields] {name}: not a field of {kind}.v1 (fields: {sorted(props)})")
    for name, value in table.get("defaults", {}).items():
        sources.setdefault(name, FieldSource(constant=value))
    if "ts_unit" in table:
        unit = table["ts_unit"]
        if unit not in LEGACY_TS_UNITS:
            raise ValueError(f"[{kind}] ts_unit must be ms, s or iso8601, not {unit!r}")
        ts = sources.get("ts", FieldSource(column="ts"))
        sources["ts"] = replace(ts, time_format=LEGACY_TS_UNITS[unit])
    delimiter = table.get("delimiter", ",")
    if delimiter not in DELIMITERS:
        raise ValueError(f"[{kind}] delimiter must be one of {sorted(DELIMITERS)}, not {delimiter!r}")
    attributes = table.get("attributes", [])
    if not (attributes == "unmapped" or (isinstance(attributes, list) and all(isinstance(a, str) for a in attributes))):
        raise ValueError(f"[{kind}] attributes must be a list of column names or \"unmapped\"")
    columns = table.get("columns", [])
    if not (isinstance(columns, list) and all(isinstance(c, str) and c for c in columns)
            and len(set(columns)) == len(columns)):
        raise ValueError(f"[{kind}] columns must be a list of distinct, non-empty column names")
    encoding = table.get("encoding")
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except (LookupError, TypeError):
            raise ValueError(f"[{kind}] encoding {encoding!r} is not a known text encoding "
                             "(\"utf-8\", \"cp1252\", \"latin-1\", \"utf-16\" ...)") from None
    decimal_mark = table.get("decimal", ".")
    if decimal_mark not in (".", ","):
        raise ValueError(f"[{kind}] decimal must be \".\" or \",\", not {decimal_mark!r}")
    mapping = KindMapping(sources, table.get("timezone", "UTC"), DELIMITERS[delimiter],
                          attributes if isinstance(attributes, str) else tuple(attributes), tuple(columns),
                          encoding, decimal_mark)
    mapping.tz()  # fail now on an unknown zone
    return mapping


def load_mapping(path: str | Path | None) -> Mapping:
    if path is None:
        return {}
    try:
        doc = tomllib.loads(Path(path).read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise ValueError(f"mapping file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML: {exc}") from None
    unknown = set(doc) - set(INPUT_KINDS)
    if unknown:
        raise ValueError(f"{path}: unknown kinds {sorted(unknown)}; expected some of {INPUT_KINDS}")
    try:
        return {kind: parse_kind(kind, table) for kind, table in doc.items()}
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def row_hash(row: dict[str, Any]) -> str:
    """A stable id for a row: the same content gives the same id, whatever the file order."""
    text = "\x1f".join(f"{k}\x1e{v}" for k, v in sorted(row.items(), key=lambda kv: str(kv[0])))
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def parse_time(value: Any, fmt: str, tz: tzinfo) -> int:
    """Epoch milliseconds of ``value`` in ``fmt``; naive times are in ``tz``. Raises ValueError."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a time")
    if fmt in _EPOCH_UNIT_MS or fmt == "excel":
        number = float(value) if isinstance(value, str) else value
        if not isinstance(number, (int, float)) or number != number or abs(number) > 1e17:
            raise ValueError("not a number")
        if fmt == "excel":
            return int((_EXCEL_ORIGIN + timedelta(days=number)).replace(tzinfo=tz).timestamp() * 1000)
        return int(round(number * _EPOCH_UNIT_MS[fmt]))
    return _parse_text_time(str(value).strip(), fmt, tz)


@lru_cache(maxsize=1 << 16)
def _parse_text_time(text: str, fmt: str, tz: tzinfo) -> int:
    # Cached: an export repeats its dates (817,741 lines of Ta Feng hold 120 distinct), and strptime
    # was a quarter of reading one.
    if fmt == "iso8601":
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    else:
        parsed = datetime.strptime(text, fmt)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return int(parsed.timestamp() * 1000)


_GROUPING = str.maketrans("", "", ". \u00a0\u202f")  # thousands separators beside a decimal comma


def decimal_point(text: str, mark: str) -> str:
    """A number written with ``mark`` as its decimal mark, as Python reads numbers."""
    return text.translate(_GROUPING).replace(",", ".") if mark == "," else text


def _coerce(value: str, prop: dict[str, Any], mark: str = ".") -> Any:
    kind = prop.get("type")
    if kind in ("integer", "number"):
        value = decimal_point(value, mark)
    try:
        if kind == "integer":
            return int(value) if value.lstrip("-").isdigit() else int(float(value))
        if kind == "number":
            return float(value)
        if kind == "boolean":
            return value.strip().lower() in ("1", "true", "yes")
    except ValueError:
        pass
    return value  # the validator reports it


def consumed_columns(mapping: KindMapping, props: dict[str, Any]) -> set[str]:
    """Columns that feed a field (explicitly, or by carrying a contract field's own name)."""
    used = set().union(*(s.columns() for s in mapping.fields.values())) if mapping.fields else set()
    return used | {name for name in props if name not in mapping.fields}


def apply(kind: str, row: dict[str, Any], mapping: KindMapping, from_text: bool) -> dict[str, Any]:
    """The contract document a row makes (the validator judges it afterwards). Raises RowError."""
    schema = load_schema(kind)
    props, required = schema["properties"], schema["required"]
    tz = mapping.tz()
    out: dict[str, Any] = {}
    for name, value in row.items():
        if name in props and name not in mapping.fields and not (from_text and value == ""):
            out[name] = _coerce(value, props[name], mapping.decimal) if from_text and isinstance(value, str) else value
    for name, source in mapping.fields.items():
        if source.column is not None:
            if source.column not in row:
                raise RowError(f"{name}: column {source.column!r} is missing")
            value = row[source.column]
            if source.values:
                out[name] = source.translate(name, value)
                continue
            if from_text and value == "":
                if name in required:
                    raise RowError(f"{name}: column {source.column!r} is empty")
                continue
            out[name] = (_coerce(value, props[name], mapping.decimal) if from_text and isinstance(value, str) and name != "ts"
                         else value)
        elif source.template is not None:
            missing = source.columns() - set(row)
            if missing:
                raise RowError(f"{name}: template column(s) {sorted(missing)} missing")
            text = _TEMPLATE_NAME.sub(lambda m: str(row[m[1]]), source.template)
            out[name] = source.translate(name, text) if source.values else text
        elif source.product:
            out[name] = _product(name, source, row, mapping.decimal)
        elif source.hash_row:
            out[name] = row_hash(row)
        else:
            out[name] = source.constant
    ts_source = mapping.fields.get("ts", FieldSource(column="ts"))
    if "ts" in out and not (ts_source.time_format == "epoch_ms" and isinstance(out["ts"], int)):
        try:
            out["ts"] = parse_time(out["ts"], ts_source.time_format, tz)
        except (ValueError, TypeError, OverflowError) as exc:
            raise RowError(f"ts: {ts_source.describe()} value {str(out['ts'])[:80]!r} is not a time in format "
                           f"{ts_source.time_format!r} ({exc})") from None
    if mapping.attributes:
        wanted = (sorted(set(row) - consumed_columns(mapping, props)) if mapping.attributes == "unmapped"
                  else mapping.attributes)
        attrs = {str(c)[:MAX_ATTRIBUTE_CHARS]: str(row[c])[:MAX_ATTRIBUTE_CHARS]
                 for c in list(wanted)[:MAX_ATTRIBUTES] if c in row and row[c] not in ("", None)}
        if attrs:
            out["attributes"] = attrs
    return out


def _product(name: str, source: FieldSource, row: dict[str, Any], mark: str = ".") -> float:
    # In decimal, as the export writes its numbers: 6 x 2.55 is 15.3, not 15.299999999999999.
    value = decimal.Decimal(1)
    for column in source.product:
        if column not in row:
            raise RowError(f"{name}: column {column!r} is missing")
        try:
            factor = decimal.Decimal(decimal_point(str(row[column]).strip(), mark))
        except (TypeError, ValueError, decimal.InvalidOperation):
            factor = decimal.Decimal("NaN")
        if not factor.is_finite():
            raise RowError(f"{name}: column {column!r} value {str(row[column])[:80]!r} is not a number")
        try:
            value *= factor
        except decimal.Overflow:  # beyond the decimal context's exponents
            value = decimal.Decimal("Infinity")
    result = float(value)
    if not math.isfinite(result):
        raise RowError(f"{name}: the product of {list(source.product)} is not a finite number")
    return abs(result) if source.absolute else result


def unmapped_columns(kind: str, columns: list[str], mapping: KindMapping) -> list[str]:
    """Columns of an export that feed no field (and are not carried as attributes)."""
    props = load_schema(kind)["properties"]
    used = consumed_columns(mapping, props)
    carried = set(columns) - used if mapping.attributes == "unmapped" else set(mapping.attributes)
    return [c for c in columns if c not in used and c not in carried]
