"""How an erased user is recognised afterwards, without keeping their id in clear. Pure."""

from __future__ import annotations

import hashlib


def user_key(user_id: str) -> str:
    """A 64-bit hash of the user id: the partition state lists erased users by it."""
    return hashlib.blake2b(user_id.encode(), digest_size=8, person=b"cg-erasure").hexdigest()
