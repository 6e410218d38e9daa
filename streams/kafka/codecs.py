"""Faust codecs: table keys as UTF-8 text, table values as orjson documents of our state types."""

from __future__ import annotations

from typing import Any

import orjson
from faust.serializers import codecs

from streams.core.engine import PartitionState
from streams.core.features import UserState


class Utf8(codecs.Codec):
    def _dumps(self, obj: Any) -> bytes:
        return obj.encode() if isinstance(obj, str) else bytes(obj)

    def _loads(self, s: bytes) -> Any:
        return s.decode()


class StateCodec(codecs.Codec):
    state_type: Any = None

    def _dumps(self, obj: Any) -> bytes:
        return orjson.dumps(obj.to_dict())

    def _loads(self, s: bytes) -> Any:
        return self.state_type.from_dict(orjson.loads(s))


class UserStateCodec(StateCodec):
    state_type = UserState


class PartitionStateCodec(StateCodec):
    state_type = PartitionState


def register() -> None:
    codecs.register("cg_utf8", Utf8())
    codecs.register("cg_user_state", UserStateCodec())
    codecs.register("cg_partition_state", PartitionStateCodec())
