// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {SidechainBridge} from "../SidechainBridge.sol";

/// @notice Test-only: exposes the batch digest so tests can pin Python digest == Solidity digest.
contract SidechainBridgeHarness is SidechainBridge {
    constructor(Valset memory genesisValset, address guardian_) SidechainBridge(genesisValset, guardian_) {}

    function batchDigest(Batch calldata batch, Withdrawal[] calldata withdrawals) external view returns (bytes32) {
        return _batchDigest(batch, withdrawals);
    }

    function guardianChangeDigest(uint256 nonce, address newGuardian) external view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(GUARDIAN_CHANGE_TYPEHASH, nonce, newGuardian)));
    }
}
