"""Balances, supply per denom, transfers (MsgSend) and the fees collected in each block.

Supply invariant: for every denom, supply == sum of all balances + the fee pool (fees collected
and not yet distributed). Transfers and fees move coins without changing supply; only minting
and burning (the bridge, later) change it, and they update supply in the same step.
"""
