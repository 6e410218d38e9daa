"""A change to a published contract that would break its consumers needs a new version file.

tests/contracts/<name>.v<N>.json freezes the consumer-visible shape of schemas/<name>.v<N>.json.
Adding optional fields is fine; removing, retyping or un-requiring a field fails here. To make
such a change, add schemas/<name>.v<N+1>.json (and its frozen shape) and keep v<N> as it was.
"""

from pathlib import Path

import orjson
import pytest

from streams import contracts
from tests.contract_shape import breaking_changes, shape

FROZEN = sorted(Path(__file__).resolve().parent.parent.joinpath("contracts").glob("*.json"))


def test_every_schema_file_has_a_frozen_shape():
    versions = {p.name for p in contracts.SCHEMA_DIR.glob("*.v*.json")}
    assert versions == {p.name for p in FROZEN}


@pytest.mark.parametrize("frozen_path", FROZEN, ids=lambda p: p.stem)
def test_published_contracts_keep_their_shape(frozen_path):
    name, version = frozen_path.stem.rsplit(".v", 1)
    current = shape(contracts.load_schema(name, int(version)))
    assert breaking_changes(orjson.loads(frozen_path.read_bytes()), current) == []


def test_the_check_catches_removed_and_retyped_fields():
    frozen = shape(contracts.load_schema("outreach_alert"))
    schema = orjson.loads(orjson.dumps(contracts.load_schema("outreach_alert")))
    del schema["properties"]["priority"]
    schema["properties"]["risk_score"]["type"] = "string"
    schema["properties"]["action"]["required"] = ["kind"]
    assert sorted(breaking_changes(frozen, shape(schema))) == [
        "action.channel no longer required", "removed priority", "retyped risk_score: number -> string"]
