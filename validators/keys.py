"""Store layout of the validators module (proof of stake; prefixes 0x20-0x3F are its own).

Staking
| key                                                     | value                                      |
|---------------------------------------------------------|--------------------------------------------|
| 0x20                                                    | params: canonical JSON (params.py)          |
| 0x21 | operator (20)                                    | Validator (staking.proto)                   |
| 0x22 | consensus address (20)                           | operator: every consensus key ever used     |
| 0x23 | bridge address (20)                              | operator: every bridge address ever used    |
| 0x24 | ~power (8 BE) | operator (20)                    | "": candidates by power, descending         |
| 0x25 | operator (20)                                    | the last set sent to CometBFT: power (8 BE) |
|                                                         | || consensus key (32) || bridge address (20)  |
| 0x26 | delegator (20) | operator (20)                   | Delegation                                  |
| 0x27 | operator (20) | delegator (20)                   | "": the delegators of a validator           |
| 0x28 | delegator (20) | operator (20)                   | UnbondingEntries                            |
| 0x29 | completion ns (8 BE) | delegator | operator      | "": the unbonding queue                     |
| 0x2A | delegator | src (20) | dst (20)                  | RedelegationEntries                         |
| 0x2B | completion ns (8 BE) | delegator | src | dst     | "": the redelegation queue                  |
| 0x2C | delegator | dst (20) | src (20)                  | "": redelegations by destination            |
| 0x2D | unbonding done ns (8 BE) | operator              | "": validators whose unbonding matures      |
| 0x2E | from height (8 BE)                               | ValidatorSet in force from that height on   |
|                                                         | (written when the set changes)              |
| 0x2F                                                    | "": the set may have changed in this block  |
|                                                         | (a power, a jailing or a bridge key)        |

Slashing
| 0x30 | consensus address (20)                           | SigningInfo                                 |
| 0x31 | consensus address (20) | window index (8 BE)     | "": a missed block (absent: signed)         |
| 0x32 | consensus address (20) | infraction height (8 BE) | "": evidence already slashed               |

Distribution (amounts in `dec` units: 10^18 per token, see distribution.py)
| 0x38 | operator (20)                                    | period (8 BE) || commission bps (2 BE) || per |
|                                                         | denom: current, commission, outstanding     |
| 0x39 | operator (20) | period (8 BE)                    | reference count (4 BE) || cumulative ratio  |
| 0x3C | delegator (20) | operator (20)                   | starting info: previous period, stake, height |
| 0x3D | operator (20) | height (8 BE) | seq (8 BE)        | slash event: period || fraction (dec)      |
| 0x3E                                                    | community pool (dec coins)                  |

Integers are fixed-width big-endian, so byte order is numeric order; the power index stores
2^64 - 1 - power so that iteration runs from the highest power down.
"""

from __future__ import annotations

PARAMS_KEY = b"\x20"
VALIDATOR = b"\x21"
BY_CONSENSUS = b"\x22"
BY_BRIDGE = b"\x23"
POWER_INDEX = b"\x24"
LAST_POWER = b"\x25"
DELEGATION = b"\x26"
DELEGATORS_OF = b"\x27"
UNBONDING = b"\x28"
UNBONDING_QUEUE = b"\x29"
REDELEGATION = b"\x2a"
REDELEGATION_QUEUE = b"\x2b"
REDELEGATION_BY_DST = b"\x2c"
VALIDATOR_QUEUE = b"\x2d"
HISTORICAL_SET = b"\x2e"
SET_DIRTY = b"\x2f"

SIGNING_INFO = b"\x30"
MISSED = b"\x31"
SLASHED_EVIDENCE = b"\x32"

CURRENT_REWARDS = b"\x38"
HISTORICAL_REWARDS = b"\x39"
STARTING_INFO = b"\x3c"
SLASH_EVENT = b"\x3d"
COMMUNITY_POOL = b"\x3e"

U64_MAX = (1 << 64) - 1


def u64(n: int) -> bytes:
    return n.to_bytes(8, "big")


def validator_key(operator: bytes) -> bytes:
    return VALIDATOR + operator


def power_index_key(power: int, operator: bytes) -> bytes:
    return POWER_INDEX + u64(U64_MAX - power) + operator


def delegation_key(delegator: bytes, operator: bytes) -> bytes:
    return DELEGATION + delegator + operator


def unbonding_key(delegator: bytes, operator: bytes) -> bytes:
    return UNBONDING + delegator + operator


def redelegation_key(delegator: bytes, src: bytes, dst: bytes) -> bytes:
    return REDELEGATION + delegator + src + dst
