"""The bridge's sidechain half (consensus code: no network, no wall clock).

For now it holds the errors of the protocol rules that consensus will apply (errors.py); the
module itself (deposits, withdrawals, batches, valsets) enters through sidechain/module.py.
"""
