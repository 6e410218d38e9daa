"""Real exports read unchanged: the shapes of the public logs in bench/real_data.py, in miniature."""

import os
import time
from datetime import datetime, timezone
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.offline.mapping import RowError, apply, load_mapping, parse_kind, row_hash
from streams.offline.sources import InputScan, count_lines, merged

CDNOW_MAPPING = """
[purchase]
delimiter = "whitespace"
attributes = ["number_of_cds"]
[purchase.fields]
user_id = "customer_id"
ts = { column = "date", format = "%Y%m%d" }
amount = "dollar_value"
event_id = { hash = "row" }
order_id = { template = "{customer_id}-{date}" }
currency = { constant = "USD" }
status = { constant = "completed" }
"""

TAFENG_MAPPING = """
[purchase]
timezone = "Asia/Taipei"
attributes = "unmapped"
[purchase.fields]
user_id = "CUSTOMER_ID"
ts = { column = "TRANSACTION_DT", format = "%m/%d/%Y" }
amount = "SALES_PRICE"
event_id = { hash = "row" }
order_id = { template = "{CUSTOMER_ID}-{TRANSACTION_DT}" }
currency = { constant = "TWD" }
status = { constant = "completed" }
"""


def _ms(*args, tz=timezone.utc):
    return int(datetime(*args, tzinfo=tz).timestamp() * 1000)


def _docs(records):
    return [orjson.loads(r.value) for r in records if r.error is None]


def test_a_fixed_width_export_with_yyyymmdd_dates_and_no_ids(tmp_path):
    export = tmp_path / "CDNOW_master.txt"
    export.write_text(" customer_id  date number_of_cds  dollar_value\r\n 00001 19970101  1   11.77\r\n"
                      " 00002 19970112  1   12.00\r\n 00002 19970112  5   77.00\r\n")
    (tmp_path / "m.toml").write_text(CDNOW_MAPPING)
    mapping = load_mapping(tmp_path / "m.toml")
    scan = InputScan()
    docs = _docs(merged([(export, "purchase")], mapping, scan))
    assert [d["ts"] for d in docs] == [_ms(1997, 1, 1), _ms(1997, 1, 12), _ms(1997, 1, 12)]  # never 1970
    assert docs[0]["user_id"] == "00001" and docs[0]["amount"] == 11.77 and docs[0]["currency"] == "USD"
    assert docs[0]["order_id"] == "00001-19970101" and docs[0]["attributes"] == {"number_of_cds": "1"}
    # Two orders of one customer on one day: different rows, different ids.
    assert len({d["event_id"] for d in docs}) == 3
    assert scan.unmapped == {} and scan.kinds == {"purchase": 3}


@pytest.mark.parametrize("name, delimiter, lines", [
    ("CDNOW_sample.txt", 'delimiter = "whitespace"',  # the original CDNOW files have no header line
     [" 00004 0001 19970101  2   29.33", " 00004 0001 1997-01-18  2   29.73", " 00018 0002 19970104  1   14.96"]),
    ("sample.csv", "", ["00004,0001,19970101,2,29.33", "00004,0001,1997-01-18,2,29.73", "00018,0002,19970104,1,14.96"]),
])
def test_an_export_without_a_header_line_names_its_columns_in_the_mapping(tmp_path, name, delimiter, lines):
    export = tmp_path / name
    export.write_text("\r\n".join(lines) + "\r\n")
    (tmp_path / "m.toml").write_text(CDNOW_MAPPING.replace('delimiter = "whitespace"', delimiter).replace(
        "[purchase.fields]", 'columns = ["customer_id", "new_id", "date", "number_of_cds", "dollar_value"]\n'
                             "[purchase.fields]"))
    scan = InputScan()
    records = list(merged([(export, "purchase")], load_mapping(tmp_path / "m.toml"), scan))
    docs = _docs(records)
    # The first line is a row, not a header; a bad row is named by its line in the file.
    assert [(d["user_id"], d["ts"]) for d in docs] == [("00004", _ms(1997, 1, 1)), ("00018", _ms(1997, 1, 4))]
    [bad] = [r for r in records if r.error is not None]
    assert bad.line_number == 2 and bad.error[1].startswith("row 2: ts") and "'1997-01-18'" in bad.error[1]
    assert scan.unmapped == {str(export): ["new_id"]}
    assert count_lines([(export, "purchase")], load_mapping(tmp_path / "m.toml")) == 3  # progress expects every line


def test_a_bom_and_month_first_dates_in_a_named_time_zone_and_unmapped_columns(tmp_path):
    export = tmp_path / "ta_feng.csv"
    export.write_bytes('\ufeff"TRANSACTION_DT","CUSTOMER_ID","AGE_GROUP","PIN_CODE","SALES_PRICE"\r\n'
                      '"11/1/2000","01104905","45-49","115","30"\r\n'.encode())
    (tmp_path / "m.toml").write_text(TAFENG_MAPPING)
    scan = InputScan()
    [doc] = _docs(merged([(export, "purchase")], load_mapping(tmp_path / "m.toml"), scan))
    assert doc["user_id"] == "01104905"  # the mark did not rename the first column
    assert doc["ts"] == _ms(2000, 10, 31, 16)  # midnight in Taipei
    assert doc["attributes"] == {"AGE_GROUP": "45-49", "PIN_CODE": "115"}
    assert scan.unmapped == {}
    # Without carrying attributes, the run summary names the columns that were dropped.
    (tmp_path / "m.toml").write_text(TAFENG_MAPPING.replace('attributes = "unmapped"\n', ""))
    scan = InputScan()
    list(merged([(export, "purchase")], load_mapping(tmp_path / "m.toml"), scan))
    assert scan.unmapped == {str(export): ["AGE_GROUP", "PIN_CODE"]}


def test_naive_times_are_utc_whatever_the_machine_zone(tmp_path, monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        m = parse_kind("click", {"fields": {"ts": {"column": "when", "format": "iso8601"}},
                                 "defaults": {"action": "view", "session_id": "s", "page": "/"}})
        doc = apply("click", {"event_id": "e", "user_id": "u", "when": "2024-03-01T12:00:00"}, m, True)
        assert doc["ts"] == _ms(2024, 3, 1, 12)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_a_column_may_feed_several_fields():
    m = parse_kind("purchase", {"fields": {"event_id": "ref", "order_id": "ref", "user_id": "who",
                                           "ts": {"column": "day", "format": "%Y-%m-%d"},
                                           "currency": {"constant": "EUR"}, "status": {"constant": "completed"}}})
    doc = apply("purchase", {"ref": "A-1", "who": "u", "day": "2024-01-02", "amount": "3.5"}, m, True)
    assert doc["event_id"] == doc["order_id"] == "A-1" and doc["amount"] == 3.5


def orders_mapping(tmp_path):
    """A mapping of who,day,amount exports (ids hashed from the row) at tmp_path / "m.toml"."""
    (tmp_path / "m.toml").write_text('[purchase]\n[purchase.fields]\nuser_id = "who"\n'
                                     'ts = { column = "day", format = "%Y-%m-%d" }\nevent_id = { hash = "row" }\n'
                                     'order_id = { hash = "row" }\ncurrency = { constant = "EUR" }\n'
                                     'status = { constant = "completed" }\n')


def test_a_value_that_does_not_parse_names_the_field_the_column_and_the_raw_value(tmp_path):
    export = tmp_path / "orders.csv"
    export.write_text("who,day,amount\nu1,2024-01-02,3\nu2,02/30/2024,4\n")
    orders_mapping(tmp_path)
    good, bad = merged([(export, "purchase")], load_mapping(tmp_path / "m.toml"))
    assert good.error is None
    reason, detail = bad.error
    assert reason == "invalid" and "row 3" in detail and "'day'" in detail and "02/30/2024" in detail
    with pytest.raises(RowError):
        apply("purchase", {"who": "u"}, load_mapping(tmp_path / "m.toml")["purchase"], True)


def test_a_row_the_contract_rejects_says_its_reason_once(tmp_path):
    """The check and the dead letter print "reason: detail": the detail must not repeat the reason."""
    export = tmp_path / "orders.csv"
    export.write_text("who,day,amount\n,2024-01-02,3\n")
    orders_mapping(tmp_path)
    [record] = merged([(export, "purchase")], load_mapping(tmp_path / "m.toml"))
    reason, detail = record.error
    assert reason == "invalid" and not detail.startswith("invalid")
    assert detail == "row 2: user_id: column 'who' is empty"  # not the contract's "required property"


def test_an_exports_own_vocabulary_is_translated_by_values(tmp_path):
    """An invoice-line export (Online Retail's shape): cancellations are invoices numbered "C...",
    lines share their invoice's number and are worth quantity x unit price (negative for a return:
    the contract's amount is the magnitude); a status column speaks
    its own words. An unknown word with
    no default is a row error naming it, never a record passed on to fail its contract."""
    export = tmp_path / "retail.csv"
    export.write_text("InvoiceNo,InvoiceDate,Quantity,UnitPrice,CustomerID,State\n"
                      "536365,12/1/2010 8:26,6,2.55,17850,Shipped\n"
                      "536365,12/1/2010 8:26,2,3.39,17850,shipped \n"
                      "C536379,12/1/2010 9:41,-1,27.5,14527,Returned\n"
                      "536380,12/1/2010 9:45,1,1.0,14527,Lost\n"
                      "536381,12/1/2010 9:50,six,1.0,14527,Shipped\n")
    (tmp_path / "m.toml").write_text(
        '[purchase]\ntimezone = "Europe/London"\n[purchase.fields]\nuser_id = "CustomerID"\n'
        'ts = { column = "InvoiceDate", format = "%m/%d/%Y %H:%M" }\n'
        'event_id = { hash = "row" }\norder_id = { template = "{InvoiceNo}" }\ncurrency = { constant = "GBP" }\n'
        'status = { column = "InvoiceNo", values = { "C*" = "cancelled" }, default = "completed" }\n'
        'discount = { column = "State", values = { "[Ss]hipped" = 0, "Returned" = 0 } }\n'
        'amount = { product = ["Quantity", "UnitPrice"], absolute = true }\n')
    records = list(merged([(export, "purchase")], load_mapping(tmp_path / "m.toml")))
    docs = [orjson.loads(r.value) for r in records if r.error is None]
    assert sorted((d["order_id"], d["status"], d["amount"]) for d in docs) == [
        ("536365", "completed", 6.78), ("536365", "completed", 15.3), ("C536379", "cancelled", 27.5)]  # in decimal
    lost, six = [r.error for r in records if r.error is not None]
    assert lost[0] == "invalid" and "'State'" in lost[1] and "'Lost'" in lost[1]
    assert "'Quantity'" in six[1] and "'six'" in six[1]


LEGACY_MAPPING = ('[purchase]\n[purchase.fields]\nuser_id = "Société"\nts = { column = "Date", format = "%d/%m/%Y" }\n'
                  'event_id = { hash = "row" }\norder_id = { hash = "row" }\ncurrency = { constant = "EUR" }\n'
                  'status = { constant = "completed" }\namount = "Montant"\n')


def test_an_export_that_is_not_utf8_is_read_and_its_lines_counted(tmp_path):
    """A spreadsheet's export in Windows-1252 (a French header, a product name with an accent, a
    euro sign): every row is read, the lines that were not UTF-8 are counted and the first named,
    in the scan and by --check; a UTF-8 line in the same file stays UTF-8. With the encoding named
    in the mapping, nothing is counted."""
    from streams.offline.check import check_files, render

    export = tmp_path / "ventes.csv"
    export.write_bytes("Société,Date,Montant,Produit\r\n".encode("cp1252")
                      + "c1,02/01/2024,3.5,Café crème\r\n".encode("cp1252")
                      + "c2,03/01/2024,4,naïve\r\n".encode("utf-8")
                      + "c1,05/01/2024,12,Théière 10 €\r\n".encode("cp1252"))
    (tmp_path / "m.toml").write_text(LEGACY_MAPPING, encoding="utf-8")
    mapping = load_mapping(tmp_path / "m.toml")
    scan = InputScan()
    docs = [orjson.loads(r.value) for r in merged([(export, "purchase")], mapping, scan)]
    assert [(d["user_id"], d["amount"]) for d in docs] == [("c1", 3.5), ("c2", 4), ("c1", 12)]
    assert (scan.recoded[str(export)].lines, scan.recoded[str(export)].first) == (3, 1)
    assert "3 line(s) not UTF-8, read as Windows-1252 (first: line 1)" in render(check_files([(export, "purchase")], mapping))
    (tmp_path / "named.toml").write_text(LEGACY_MAPPING.replace("[purchase]\n", '[purchase]\nencoding = "cp1252"\n', 1),
                                         encoding="utf-8")
    scan = InputScan()
    assert len(list(merged([(export, "purchase")], load_mapping(tmp_path / "named.toml"), scan))) == 3
    assert not scan.recoded[str(export)].lines and scan.rejected == 0  # the UTF-8 line: "naÃ¯ve", a cell nobody reads


def test_a_named_multibyte_encoding_and_old_mac_line_endings(tmp_path):
    rows = ["Société,Date,Montant", "c1,02/01/2024,3.5", "c2,03/01/2024,4"]
    utf16, mac = tmp_path / "utf16.csv", tmp_path / "mac.csv"
    utf16.write_bytes("\r\n".join(rows).encode("utf-16"))  # with its byte-order mark
    mac.write_bytes("\r".join(rows).encode("utf-8") + b"\r")
    (tmp_path / "utf16.toml").write_text(LEGACY_MAPPING.replace("[purchase]\n", '[purchase]\nencoding = "utf-16"\n', 1),
                                         encoding="utf-8")
    (tmp_path / "m.toml").write_text(LEGACY_MAPPING, encoding="utf-8")
    expected = [("c1", 3.5), ("c2", 4)]
    for path, mapping in ((utf16, "utf16.toml"), (mac, "m.toml")):
        docs = [orjson.loads(r.value) for r in merged([(path, "purchase")], load_mapping(tmp_path / mapping))]
        assert [(d["user_id"], d["amount"]) for d in docs] == expected, path.name


def test_decimal_commas_when_the_mapping_says_so_and_a_row_error_otherwise(tmp_path):
    """A German spreadsheet's export: ";" between cells, "," as the decimal mark, "." or a space
    grouping thousands. Read with decimal = ","; without it, a comma in a number is an error of
    the row naming the value, never a silent hundredfold."""
    export = tmp_path / "umsatz.csv"
    export.write_text("Kunde;Datum;Betrag;Menge;Preis\n"
                      "k1;02.01.2024;12,50;3;2,55\n"
                      "k2;03.01.2024;1.234,50;1;1.234,50\n"
                      "k3;04.01.2024;1 234,50;2;0,5\n", encoding="utf-8")
    table = ('[purchase]\ndelimiter = ";"\n{decimal}[purchase.fields]\nuser_id = "Kunde"\n'
             'ts = {{ column = "Datum", format = "%d.%m.%Y" }}\nevent_id = {{ hash = "row" }}\norder_id = {{ hash = "row" }}\n'
             'currency = {{ constant = "EUR" }}\nstatus = {{ constant = "completed" }}\namount = "{amount}"\n')
    for amount, expected in (("Betrag", [12.5, 1234.5, 1234.5]), ("Menge", [3, 1, 2])):
        (tmp_path / "m.toml").write_text(table.format(decimal='decimal = ","\n', amount=amount))
        records = list(merged([(export, "purchase")], load_mapping(tmp_path / "m.toml")))
        assert [orjson.loads(r.value)["amount"] for r in records] == expected
    (tmp_path / "m.toml").write_text(table.format(decimal='decimal = ","\n', amount="Betrag").replace(
        'amount = "Betrag"', 'amount = { product = ["Menge", "Preis"] }'))
    records = list(merged([(export, "purchase")], load_mapping(tmp_path / "m.toml")))
    assert [orjson.loads(r.value)["amount"] for r in records] == [7.65, 1234.5, 1.0]
    (tmp_path / "m.toml").write_text(table.format(decimal="", amount="Betrag"))
    records = list(merged([(export, "purchase")], load_mapping(tmp_path / "m.toml")))
    assert all(r.error is not None and r.error[0] == "invalid" for r in records)
    assert "12,50" in records[0].error[1]
    with pytest.raises(ValueError, match="decimal must be"):
        parse_kind("purchase", {"decimal": "'"})


@pytest.mark.parametrize("fmt, cell, tz, expected", [
    ("epoch_days", "1", "UTC", "1970-01-02T00:00:00+00:00"),  # a panel's day number: only differences count
    ("epoch_days", "711", "+08:00", "1971-12-13T00:00:00+00:00"),  # days since the epoch are UTC days
    ("excel", "45292.5", "UTC", "2024-01-01T12:00:00+00:00"),  # a spreadsheet's serial date and time
    ("excel", "45292.5", "Europe/Paris", "2024-01-01T11:00:00+00:00"),  # a wall time in the mapping's zone
])
def test_day_numbers_and_spreadsheet_serial_dates(fmt, cell, tz, expected):
    from streams.offline.mapping import parse_time, parse_timezone

    ms = parse_time(cell, fmt, parse_timezone(tz))
    assert datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat() == expected
    mapping = parse_kind("purchase", {"timezone": tz, "fields": {"ts": {"column": "DAY", "format": fmt}}})
    for bad in ("x", "nan", "inf", "1e18"):  # beyond the contract's years the validator rejects the row
        with pytest.raises(RowError, match="DAY"):
            apply("purchase", {"DAY": bad, "user_id": "u"}, mapping, True)


def test_row_hashes_do_not_depend_on_file_order(tmp_path):
    rows = ["who,day,amount", "u1,2024-01-02,3", "u2,2024-01-03,4", "u1,2024-01-05,1"]
    mapping = tmp_path / "m.toml"
    mapping.write_text('[purchase]\n[purchase.fields]\nuser_id = "who"\nts = { column = "day", format = "%Y-%m-%d" }\n'
                       'event_id = { hash = "row" }\norder_id = { hash = "row" }\ncurrency = { constant = "EUR" }\n'
                       'status = { constant = "completed" }\n')
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("\n".join(rows) + "\n")
    b.write_text("\n".join([rows[0], *reversed(rows[1:])]) + "\n")
    m = load_mapping(mapping)
    assert _docs(merged([(a, "purchase")], m)) == _docs(merged([(b, "purchase")], m))
    assert row_hash({"x": "1", "y": "2"}) == row_hash({"y": "2", "x": "1"}) != row_hash({"x": "2", "y": "1"})


@pytest.mark.parametrize("path", sorted((Path(__file__).parents[3] / "docs" / "mappings").glob("*.toml")),
                         ids=lambda p: p.name)
def test_the_shipped_mappings_load(path):
    assert load_mapping(path)["purchase"].fields["user_id"].column


@pytest.mark.parametrize("table, message", [
    ({"fields": {"ts": {"column": "d", "format": "YYYYMMDD"}}}, "strptime pattern"),
    ({"fields": {"nope": "x"}}, "not a field"),
    ({"fields": {"user_id": {"column": "a", "constant": "b"}}}, "one of column"),
    ({"timezone": "Mars/Olympus"}, "unknown time zone"),
    ({"delimiter": "::"}, "delimiter"),
    ({"fields": {"status": {"column": "s", "value": {"x": "completed"}}}}, "unknown keys"),
    ({"fields": {"status": {"constant": "completed", "values": {"x": "refunded"}}}}, "translate a column"),
    ({"fields": {"status": {"column": "s", "values": "completed"}}}, "table of pattern"),
    ({"fields": {"amount": {"product": "Quantity"}}}, "list of column names"),
    ({"fields": {"amount": {"column": "a", "absolute": True}}}, "with a product"),
    ({"columns": "customer date"}, "columns must be a list"),
    ({"columns": ["a", "a"]}, "distinct"),
    ({"encoding": "klingon"}, "not a known text encoding"),
])
def test_mistakes_in_a_mapping_are_refused_with_the_key(table, message):
    with pytest.raises(ValueError, match=message):
        parse_kind("purchase", table)


def _cdnow_like(tmp_path, customers=60, days=120):
    import random

    rng = random.Random(3)
    lines = [" customer_id  date number_of_cds  dollar_value"]
    for c in range(customers):
        day = rng.randrange(20)
        while day < days:
            d = datetime(1997, 1, 1, tzinfo=timezone.utc).timestamp() + day * 86400
            lines.append(f" {c:05d} {datetime.fromtimestamp(d, timezone.utc):%Y%m%d}  {rng.randint(1, 4)}   {rng.uniform(5, 60):.2f}")
            day += rng.randint(3, 60)
    export = tmp_path / "CDNOW_master.txt"
    export.write_text("\r\n".join(lines) + "\r\n")
    (tmp_path / "m.toml").write_text(CDNOW_MAPPING)
    return export


def test_replay_check_prints_what_the_mapping_makes_and_produces_nothing(tmp_path, capsys):
    from streams.cli import main

    export = _cdnow_like(tmp_path)
    assert main(["replay", str(export), "--kind", "purchase", "--mapping", str(tmp_path / "m.toml"), "--check"]) == 0
    out = capsys.readouterr().out
    assert "map to valid events" in out and "1997-01-" in out and "0 problem(s)" in out
    # Without the mapping, every row is a problem, each named by its row.
    assert main(["replay", str(export), "--kind", "purchase", "--check", "--check-rows", "2"]) == 1
    assert "row 2: undecodable" in capsys.readouterr().out
    # A row error is named by its row once.
    export.write_text(export.read_text().replace(" 00000 19970", " 00000 x9970", 1))
    assert main(["replay", str(export), "--kind", "purchase", "--mapping", str(tmp_path / "m.toml"), "--check"]) == 1
    [problem] = [line for line in capsys.readouterr().out.splitlines() if line.startswith("  !")]
    assert problem.startswith("  ! row 2: invalid: ts: column 'date' value 'x9970") and problem.count("row 2") == 1
    # Rows failing the same way are one line: the first row's own words and how many more.
    export.write_text(export.read_text().replace(" 00001 19970", " 00001 y9970"))
    assert main(["replay", str(export), "--kind", "purchase", "--mapping", str(tmp_path / "m.toml"), "--check"]) == 1
    out = capsys.readouterr().out
    [problem] = [line for line in out.splitlines() if line.startswith("  !")]
    more = sum(" 00001 y9970" in line for line in export.read_text().splitlines())
    assert problem.startswith(f"  ! row 2 and {more:,} more like it: invalid: ts: column 'date' value 'x9970")
    assert f"{more + 1} problem(s)" in out


def test_evaluate_takes_the_inputs_replay_takes(tmp_path, monkeypatch):
    from streams.cli import main

    monkeypatch.setenv("CHURNGUARD_LABEL_HORIZON_DAYS", "30")
    export = _cdnow_like(tmp_path)
    (tmp_path / "backfill").mkdir()
    code = main(["evaluate", str(export), "--kind", "purchase", "--mapping", str(tmp_path / "m.toml"),
                 "--alerts-dir", str(tmp_path / "backfill"), "--out", str(tmp_path / "report")])
    assert code == 0
    summary = orjson.loads((tmp_path / "report" / "report.json").read_bytes())
    assert summary["inputs"]["rejected"] == 0 and summary["inputs"]["users"] == 60
    # A file it cannot read is a one-line refusal, not a traceback.
    assert main(["evaluate", str(export), "--kind", "purchase", "--alerts-dir", str(tmp_path / "backfill")]) == 2
    assert main(["evaluate", str(tmp_path / "missing.csv"), "--alerts-dir", str(tmp_path / "backfill")]) == 2


CELLS = st.one_of(st.text(max_size=40), st.sampled_from(["", "1e400", "nan", "-1", "13/45/2000", "2/29/2001",
                                                           "11/1/2000", "0", "99999999999999999999", "\ufeff"]))


RETAIL_MAPPING = """
[purchase]
[purchase.fields]
user_id = "CustomerID"
ts = { column = "InvoiceDate", format = "%m/%d/%Y" }
amount = { product = ["Quantity", "UnitPrice"], absolute = true }
event_id = { hash = "row" }
order_id = { template = "{InvoiceNo}" }
currency = { constant = "GBP" }
status = { column = "InvoiceNo", values = { "C*" = "cancelled" }, default = "completed" }
discount = { column = "Discount", values = { "0" = 0, "" = 0 } }
"""


def _valid_or_row_error(tmp_path, rows, mapping):
    """Every row of a CSV export is a valid event or an "invalid" error naming its line (the header
    is line 1), never an exception."""
    import csv

    from streams.contracts import validate

    export = tmp_path / "export.csv"
    with open(export, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    (tmp_path / "m.toml").write_text(mapping)
    records = list(merged([(export, "purchase")], load_mapping(tmp_path / "m.toml")))
    assert len(records) == len(rows)
    for r in records:
        if r.error is None:
            validate("purchase", orjson.loads(r.value))
        else:
            assert r.error[0] == "invalid"
    assert sorted(r.line_number for r in records) == list(range(2, len(rows) + 2))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(st.fixed_dictionaries({c: CELLS for c in ("TRANSACTION_DT", "CUSTOMER_ID", "AGE_GROUP", "PIN_CODE",
                                                            "SALES_PRICE")}), min_size=1, max_size=20))
def test_any_cells_give_a_valid_event_or_a_row_error_never_an_exception(tmp_path, rows):
    _valid_or_row_error(tmp_path, rows, TAFENG_MAPPING)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(st.fixed_dictionaries({c: CELLS for c in ("InvoiceNo", "InvoiceDate", "Quantity", "UnitPrice",
                                                            "CustomerID", "Discount")}), min_size=1, max_size=20))
def test_any_cells_of_an_invoice_line_export_give_a_valid_event_or_a_row_error(tmp_path, rows):
    """Products of any cells (1e400, nan, 99999999999999999999 x 1e400) and vocabularies that match
    nothing are row errors too."""
    _valid_or_row_error(tmp_path, rows, RETAIL_MAPPING)
