// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

interface IClaimDeferred {
    function claimDeferred(address token, address to) external;
}

/// @notice Test-only payout recipients for the bridge's attack suite. Never deploy these anywhere real.

/// @dev Reverts on receiving ETH (unless switched to accept); can claim its deferred balance elsewhere.
contract RevertingRecipient {
    bool public accept;

    function setAccept(bool accept_) external {
        accept = accept_;
    }

    function claim(address bridge, address token, address to) external {
        IClaimDeferred(bridge).claimDeferred(token, to);
    }

    receive() external payable {
        require(accept, "RevertingRecipient: no thanks");
    }
}

/// @dev Burns all the gas it is given.
contract GasBurningRecipient {
    receive() external payable {
        while (true) {}
    }
}

/// @dev Needs `burn` gas to accept ETH (a legitimate but hungry smart wallet): paid only with the full allowance.
contract GasHungryRecipient {
    uint256 public immutable burn;
    uint256 public received;

    constructor(uint256 burn_) {
        burn = burn_;
    }

    receive() external payable {
        uint256 start = gasleft();
        while (start - gasleft() < burn) {}
        received += msg.value;
    }
}

/// @dev Reverts with a huge payload (as large as its gas allows), to make a careless caller copy it.
contract ReturnBombRecipient {
    receive() external payable {
        assembly {
            revert(0, 100000)
        }
    }
}

/// @dev On receiving ETH, calls `target` with fixed calldata (e.g. re-enters the bridge) and records the outcome;
///      reverts with the inner revert data if `bubble` is set. The calldata is kept as contract code (read with
///      EXTCODECOPY) so that a long call fits in a payout's 52,300 gas.
contract ReentrantRecipient {
    address public target;
    bool public bubble;
    bool public lastOk;
    address private dataStore;
    uint256 private dataLength;
    bytes public lastReturn;
    uint256 public calls; // starts at 1

    constructor() {
        // Non-zero from the start, so that recording a call is cheap.
        calls = 1;
        lastReturn = hex"00";
    }

    function configure(address target_, bytes calldata data_, bool bubble_) external {
        target = target_;
        bubble = bubble_;
        dataLength = data_.length;
        // Init code: copy the code after this 10-byte header to memory and return it; the data is
        // prefixed with a STOP byte (deployed code may not start with 0xEF).
        bytes memory init = abi.encodePacked(hex"61", uint16(data_.length + 1), hex"80600a3d393df300", data_);
        address store;
        assembly {
            store := create(0, add(init, 0x20), mload(init))
        }
        require(store != address(0), "data store");
        dataStore = store;
    }

    receive() external payable {
        uint256 length = dataLength;
        address store = dataStore;
        bytes memory data = new bytes(length);
        assembly {
            extcodecopy(store, add(data, 0x20), 1, length)
        }
        (bool ok, bytes memory ret) = target.call(data);
        calls += 1;
        lastOk = ok;
        lastReturn = ret;
        if (!ok && bubble) {
            assembly {
                revert(add(ret, 0x20), mload(ret))
            }
        }
    }
}

/// @dev A relayer contract that forwards calldata to the bridge but cannot receive ETH (its fee is deferred);
///      it can claim the deferred fee to another address.
contract NonReceivingRelayer {
    function relay(address bridge, bytes calldata data) external {
        (bool ok, bytes memory ret) = bridge.call(data);
        if (!ok) {
            assembly {
                revert(add(ret, 0x20), mload(ret))
            }
        }
    }

    function claim(address bridge, address token, address to) external {
        IClaimDeferred(bridge).claimDeferred(token, to);
    }
}

/// @dev The "bare payout" baseline of the gas report: one payout from a contract, as cheaply as Solidity allows.
contract BarePayer {
    receive() external payable {}

    function payETH(address to, uint256 amount) external {
        assembly {
            if iszero(call(gas(), to, amount, 0, 0, 0, 0)) { revert(0, 0) }
        }
    }

    function payERC20(address token, address to, uint256 amount) external {
        assembly {
            let ptr := mload(0x40)
            mstore(ptr, shl(224, 0xa9059cbb))
            mstore(add(ptr, 0x04), to)
            mstore(add(ptr, 0x24), amount)
            if iszero(call(gas(), token, 0, ptr, 0x44, 0, 0x20)) { revert(0, 0) }
        }
    }
}
