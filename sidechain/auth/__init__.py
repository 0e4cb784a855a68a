"""Accounts (public key, sequence), tx fees and the tx-wide params (size, memo, fees, address prefix).

The auth module owns who may sign what: an account's sequence (replay protection), the minimum
fee per accepted fee denom, and the limits every tx must meet. Balances belong to the bank
module; auth reaches them only through the `FeeBank` protocol (expected.py).
"""
