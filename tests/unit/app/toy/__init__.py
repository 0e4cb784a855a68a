"""A toy module that enters the chain through the module seam alone (test_module_seam.py).

A counter: genesis sets it, the message `toy.Increment` (a UInt64Value payload) adds to it, a
query reads it, and an end-block step records the height of the last block it ran in. It needs
the bank's balances (only holders of the native denom may increment), which the module set gives
it from whichever module offers them.
"""
