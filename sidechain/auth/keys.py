"""Store layout of the auth module (module prefixes 0x01-0x0F are auth's).

| key                          | value                                                          |
|------------------------------|----------------------------------------------------------------|
| 0x01 | address (20 bytes)    | account: sequence (8 bytes, big-endian) || public key (32 bytes, |
|                              | absent until the account's first tx)                           |
| 0x02                         | params: canonical JSON (sorted keys, no spaces), see params.py |

An account with no entry has sequence 0 and no public key. Accounts are never deleted, so an
(address, sequence) pair is used at most once, which is what makes a signed tx valid only once.
"""

from __future__ import annotations

ACCOUNT_PREFIX = b"\x01"
PARAMS_KEY = b"\x02"

SEQUENCE_LEN = 8


def account_key(address: bytes) -> bytes:
    return ACCOUNT_PREFIX + address
