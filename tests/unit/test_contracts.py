import jsonschema
import orjson
import pytest

from streams import contracts
from streams.offline.simulator import SimConfig, serialise, simulate

SCHEMAS = ["click", "purchase", "support_ticket", "outreach_alert", "outreach_outcome", "model_quality", "dead_letter"]


@pytest.mark.parametrize("name", SCHEMAS)
def test_schema_files_are_valid_draft_2020_12(name):
    schema = contracts.load_schema(name)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_compiled_validators_agree_with_the_reference_validator():
    cfg = SimConfig(users=40, days=20, seed=3, bad_rate=0.05)
    events, _ = simulate(cfg)
    seen = {"ok": 0, "invalid": 0, "undecodable": 0}
    for kind, _, _, raw in serialise(events, cfg):
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError:
            with pytest.raises(contracts.ContractError) as err:
                contracts.decode_event(kind, raw)
            assert err.value.reason == "undecodable"
            seen["undecodable"] += 1
            continue
        reference_ok = jsonschema.Draft202012Validator(contracts.load_schema(kind)).is_valid(doc)
        try:
            contracts.decode_event(kind, raw)
            ours_ok = True
        except contracts.ContractError:
            ours_ok = False
        assert ours_ok == reference_ok, doc
        seen["ok" if ours_ok else "invalid"] += 1
    assert seen["ok"] > 1000 and seen["invalid"] > 0 and seen["undecodable"] > 0


@pytest.mark.parametrize("doc", [
    {"event_id": "e", "user_id": "u", "ts": "2026-01-01", "session_id": "s", "action": "view", "page": "/"},
    {"event_id": "e", "user_id": "u", "ts": 1, "session_id": "s", "action": "teleport", "page": "/"},
    {"event_id": "", "user_id": "u", "ts": 1, "session_id": "s", "action": "view", "page": "/"},
    {"event_id": "e", "user_id": "u", "ts": 1.5, "session_id": "s", "action": "view", "page": "/"},
    {"event_id": "e", "user_id": "u", "ts": 10**17, "session_id": "s", "action": "view", "page": "/"},
])
def test_invalid_clicks_are_rejected(doc):
    with pytest.raises(contracts.ContractError) as err:
        contracts.decode_event("click", orjson.dumps(doc))
    assert err.value.reason == "invalid"


def test_unknown_fields_are_accepted_and_ignored_and_whole_float_times_become_integers():
    # Forward compatibility: a producer that adds a field must not break the pipeline.
    doc = {"event_id": "e", "user_id": "u", "ts": 1.7e12, "session_id": "s", "action": "view", "page": "/",
           "experiment": {"arm": "b"}}
    event = contracts.decode_event("click", orjson.dumps(doc))
    assert event.ts == 1_700_000_000_000 and type(event.ts) is int


def test_an_event_keeps_the_records_bytes_until_its_document_is_used():
    # It waits in the reorder buffer for the allowed lateness: the decoded document is not kept there.
    raw = orjson.dumps({"event_id": "e", "user_id": "u", "ts": 5, "session_id": "s", "action": "view", "page": "/",
                        "attributes": {"plan": "pro"}})
    event = contracts.decode_event("click", raw)
    assert event.document is raw
    assert event.data == orjson.loads(raw) and event.data is event.document  # decoded once, when used
    assert event.data["attributes"] == {"plan": "pro"}


def test_validation_errors_name_the_field_and_rule_without_the_value():
    doc = {"event_id": "e", "user_id": "u", "ts": "alice@example.com", "session_id": "s", "action": "view", "page": "/"}
    with pytest.raises(contracts.ContractError) as err:
        contracts.decode_event("click", orjson.dumps(doc))
    assert (err.value.field, err.value.rule) == ("ts", "type")
    assert "alice" in err.value.detail  # the dead letter's detail may quote it; logs use field and rule only


def test_dead_letters_are_bounded_whatever_the_record():
    huge = b'{"event_id": "' + b"x" * 2_000_000 + b'"}'
    doc = contracts.dead_letter("invalid", "y" * 10_000, "t", 0, 1, huge)
    assert len(orjson.dumps(doc)) < 70_000
    assert doc["payload_bytes"] == len(huge) and doc["payload_truncated"] and len(doc["payload_sha256"]) == 64
    jsonschema.Draft202012Validator(contracts.load_schema("dead_letter")).validate(doc)


def test_outcomes_decode_and_bad_ones_are_rejected_with_a_reason():
    good = {"schema": "outreach_outcome.v1", "alert_id": "a" * 32, "user_id": "u1", "status": "unsubscribed",
            "ts": 1, "channel": "email"}
    assert contracts.decode("outreach_outcome", orjson.dumps(good)) == good
    with pytest.raises(contracts.ContractError) as err:
        contracts.decode("outreach_outcome", orjson.dumps({**good, "status": "ignored"}))
    assert err.value.reason == "invalid"
    with pytest.raises(contracts.ContractError) as err:
        contracts.decode("outreach_outcome", b"{not json")
    assert err.value.reason == "undecodable"


def test_dead_letters_carry_text_payloads_as_text_and_others_as_base64():
    schema = jsonschema.Draft202012Validator(contracts.load_schema("dead_letter"))
    text = contracts.dead_letter("invalid", "x" * 2000, "file:a.jsonl", 0, 7, b'{"ts": "soon"}')
    binary = contracts.dead_letter("undecodable", "not JSON", "t", 1, 2, b"\xff\xfe")
    for doc in (text, binary):
        schema.validate(doc)
    assert text["payload"] == '{"ts": "soon"}' and len(text["detail"]) == 1000
    assert binary["payload"] == "base64://4="
