"""Test support for the bridge: an in-process EVM (eth-tester + py-evm) and a real `geth --dev` L1.

Reusable by other suites (relayer, testnet): nothing here is imported by production code.
"""
