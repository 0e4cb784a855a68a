"""An in-process L1 (eth-tester with py-evm, Prague rules) with unlocked, funded accounts.

eth-tester mines one block per transaction. Snapshots make per-test isolation cheap: take one after the
expensive setup (deployments), revert to it after each test.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_tester import EthereumTester, PyEVMBackend
from eth_typing import ChecksumAddress
from web3 import Web3
from web3.providers.eth_tester import EthereumTesterProvider

from bridge.l1 import L1Client, default_decoder
from bridge.protocol import checksum

# Test contracts whose custom errors tests want decoded too.
TEST_ARTIFACTS = ("SidechainBridgeHarness", "MaliciousERC20", "TestERC20")


@dataclass
class InProcessL1:
    tester: EthereumTester
    w3: Web3
    client: L1Client
    accounts: list[ChecksumAddress]

    def snapshot(self) -> int:
        return int(self.tester.take_snapshot())

    def revert(self, snapshot_id: int) -> None:
        self.tester.revert_to_snapshot(snapshot_id)

    def mine(self, blocks: int = 1) -> None:
        self.tester.mine_blocks(blocks)

    def time_travel(self, timestamp: int) -> None:
        self.tester.time_travel(timestamp)

    @property
    def block_number(self) -> int:
        return int(self.w3.eth.block_number)

    @property
    def timestamp(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])


def in_process_l1(num_accounts: int = 10) -> InProcessL1:
    backend = PyEVMBackend(genesis_parameters=PyEVMBackend.generate_genesis_params({"gas_limit": 60_000_000}))
    if num_accounts != len(backend.account_keys):
        backend.reset_to_genesis(num_accounts=num_accounts)
    tester = EthereumTester(backend)
    w3 = Web3(EthereumTesterProvider(tester))
    client = L1Client(w3, default_decoder(TEST_ARTIFACTS))
    return InProcessL1(tester, w3, client, [checksum(a) for a in tester.get_accounts()])
