// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @notice Test-only tokens for the bridge's attack suite and gas report. Never deploy these anywhere real.

/// @dev A plain OpenZeppelin ERC-20 with open minting, and a blocklist (a "blocklisted holder" cannot receive).
contract TestERC20 is ERC20 {
    mapping(address => bool) public blocked;

    constructor(string memory name_, string memory symbol_) ERC20(name_, symbol_) {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function setBlocked(address account, bool isBlocked) external {
        blocked[account] = isBlocked;
    }

    function _update(address from, address to, uint256 value) internal override {
        require(!blocked[to], "blocked");
        super._update(from, to, value);
    }
}

/// @dev Burns `feeBps` basis points of every transfer (the recipient is credited less than `amount`).
contract FeeOnTransferERC20 is ERC20 {
    uint256 public immutable feeBps;

    constructor(uint256 feeBps_) ERC20("Fee on transfer", "FOT") {
        feeBps = feeBps_;
    }

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function _update(address from, address to, uint256 value) internal override {
        if (from == address(0) || to == address(0)) {
            super._update(from, to, value);
            return;
        }
        uint256 fee = (value * feeBps) / 10_000;
        super._update(from, address(0), fee);
        super._update(from, to, value - fee);
    }
}

/// @dev transferFrom and transfer succeed (return true) but move nothing: a deposit credits nothing.
contract NoopERC20 is ERC20 {
    constructor() ERC20("No-op", "NOOP") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function transferFrom(address, address, uint256) public pure override returns (bool) {
        return true;
    }
}

/// @dev Like USDT: transfer and transferFrom return nothing.
contract NoReturnERC20 {
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;

    function mint(address to, uint256 amount) external {
        balanceOf[to] += amount;
    }

    function approve(address spender, uint256 amount) external {
        allowance[msg.sender][spender] = amount;
    }

    function transfer(address to, uint256 amount) external {
        balanceOf[msg.sender] -= amount;
        balanceOf[to] += amount;
    }

    function transferFrom(address from, address to, uint256 amount) external {
        allowance[from][msg.sender] -= amount;
        balanceOf[from] -= amount;
        balanceOf[to] += amount;
    }
}

/// @dev A token with configurable misbehaviour on transfer (payouts) and transferFrom (deposits):
///      re-enter a target with fixed calldata, burn all gas, return a huge payload, or return false.
contract MaliciousERC20 is ERC20 {
    enum Mode {
        Normal,
        Reenter,
        BurnGas,
        ReturnBomb,
        ReturnFalse
    }

    Mode public transferMode;
    Mode public transferFromMode;
    address public hookTarget;
    bytes public hookData;
    bool public bubbleHookRevert;
    bool public lastHookOk;
    bytes public lastHookReturn;
    uint256 public hookCalls; // starts at 1

    constructor() ERC20("Malicious", "EVIL") {
        // Non-zero from the start, so that recording a hook costs little of a payout's gas allowance.
        hookCalls = 1;
        lastHookReturn = hex"00";
    }

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function configure(Mode onTransfer, Mode onTransferFrom, address target, bytes calldata data, bool bubble) external {
        transferMode = onTransfer;
        transferFromMode = onTransferFrom;
        hookTarget = target;
        hookData = data;
        bubbleHookRevert = bubble;
    }

    function transfer(address to, uint256 amount) public override returns (bool) {
        bool proceed = _misbehave(transferMode);
        if (!proceed) return false;
        return super.transfer(to, amount);
    }

    function transferFrom(address from, address to, uint256 amount) public override returns (bool) {
        bool proceed = _misbehave(transferFromMode);
        if (!proceed) return false;
        return super.transferFrom(from, to, amount);
    }

    function _misbehave(Mode mode) private returns (bool proceed) {
        if (mode == Mode.Reenter) {
            hookCalls += 1;
            (bool ok, bytes memory ret) = hookTarget.call(hookData);
            lastHookOk = ok;
            lastHookReturn = ret;
            if (!ok && bubbleHookRevert) {
                assembly {
                    revert(add(ret, 0x20), mload(ret))
                }
            }
            return true;
        }
        if (mode == Mode.BurnGas) {
            while (true) {}
        }
        if (mode == Mode.ReturnBomb) {
            assembly {
                return(0, 200000)
            }
        }
        if (mode == Mode.ReturnFalse) return false;
        return true;
    }
}
