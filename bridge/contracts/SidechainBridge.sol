// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

/// @title SidechainBridge (bridge protocol version 1, BRIDGE.md sections 3 and 4)
/// @notice Locks ETH and ERC-20 tokens for the sidechain and releases them on the signatures of the
///         sidechain's validators, weighted by normalised power (sum <= 2^32, threshold > 2863311530).
/// @dev Gas notes. The event counter, the pause flag and the guardian share one storage slot, so a deposit
///      reads and writes a single slot. Executed batches are a bitmap (256 nonces per slot). A batch hashes
///      its calldata once, sums amounts per token in memory, checks balances and the daily limit once per
///      token, and makes one bounded CALL per withdrawal; nothing is written per withdrawal unless a payout
///      fails and is deferred.
contract SidechainBridge is EIP712, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    // ---------------------------------------------------------------------------------------------
    // Types (ABI of BRIDGE.md section 3)
    // ---------------------------------------------------------------------------------------------

    struct Valset {
        uint256 nonce;
        address[] validators;
        uint256[] powers;
    }

    /// @dev v == 0: the validator did not sign; otherwise v is 27 or 28.
    struct Signature {
        uint8 v;
        bytes32 r;
        bytes32 s;
    }

    /// @dev token == address(0) is ETH.
    struct Withdrawal {
        address token;
        address recipient;
        uint256 amount;
        uint256 fee;
    }

    struct Batch {
        uint256 nonce;
        uint256 timeoutL1Block;
    }

    // ---------------------------------------------------------------------------------------------
    // Constants
    // ---------------------------------------------------------------------------------------------

    /// @dev Signed normalised power must be strictly greater than this (floor(2^32 * 2 / 3)).
    uint256 internal constant POWER_THRESHOLD = 2863311530;
    /// @dev Normalised powers of a valset sum to at most 2^32.
    uint256 internal constant MAX_TOTAL_POWER = 1 << 32;
    uint256 internal constant MAX_VALSET_NONCE_JUMP = 1_000_000;
    /// @dev Keeps nonce + 1 and every later nonce far from 2^256 (2^128 / 10^6 updates would be needed).
    uint256 internal constant MAX_GENESIS_VALSET_NONCE = 1 << 128;

    /// @dev Gas given to each payout CALL (an ETH CALL with value also gets the 2,300 stipend).
    uint256 internal constant ETH_PAYOUT_GAS = 50_000;
    uint256 internal constant ERC20_PAYOUT_GAS = 150_000;
    /// @dev gasleft() needed before a payout so that the callee surely receives its full allowance:
    ///      allowance * 64/63 (rounded up) + the CALL's own worst-case cost (cold account 2,600, value
    ///      transfer 9,000, new account 25,000) + a margin for the few opcodes between the check and the CALL.
    uint256 internal constant ETH_PAYOUT_MIN_GAS = (ETH_PAYOUT_GAS * 64 + 62) / 63 + 2_600 + 9_000 + 25_000 + 500;
    uint256 internal constant ERC20_PAYOUT_MIN_GAS = (ERC20_PAYOUT_GAS * 64 + 62) / 63 + 2_600 + 500;

    bytes32 internal constant VALSET_TYPEHASH = keccak256("Valset(uint256 nonce,address[] validators,uint256[] powers)");
    bytes32 internal constant BATCH_TYPEHASH =
        keccak256("BatchDigest(uint256 nonce,uint256 timeoutL1Block,bytes32 withdrawalsHash)");
    bytes32 internal constant GUARDIAN_CHANGE_TYPEHASH = keccak256("GuardianChange(uint256 nonce,address guardian)");

    // ---------------------------------------------------------------------------------------------
    // Storage
    // ---------------------------------------------------------------------------------------------

    /// @dev One slot: read and written by every deposit (event counter and pause flag together).
    struct Core {
        uint64 lastEventNonce;
        bool paused;
        address guardian;
    }

    /// @dev Released amount (amount + fee) of a token on one UTC day; saturates at 2^192 - 1.
    struct DayCount {
        uint64 day;
        uint192 released;
    }

    Core private _core;
    bytes32 private _valsetCheckpoint;
    /// @dev valsetNonce + 1: never zero, so an update rewrites a non-zero slot (5,000 gas instead of 22,100
    ///      for the first update after a genesis valset with nonce 0). Cannot overflow: the nonce may only
    ///      grow by 1,000,000 per update and the genesis nonce is at most 2^128.
    uint256 private _valsetNoncePlusOne;
    uint256 private _guardianNonce;
    /// @dev batch nonce >> 8 => bitmap of executed batch nonces.
    mapping(uint256 => uint256) private _executedBatches;

    mapping(address token => mapping(address account => uint256)) public deferred;
    mapping(address token => uint256) public totalDeferred;
    mapping(address token => uint256) public dailyLimit;
    mapping(address token => DayCount) private _dayCount;

    // ---------------------------------------------------------------------------------------------
    // Events (BRIDGE.md section 3)
    // ---------------------------------------------------------------------------------------------

    event Deposit(
        uint256 indexed eventNonce, address indexed token, address indexed sender, bytes20 recipient, uint256 amount
    );
    event ValsetUpdated(uint256 indexed eventNonce, uint256 indexed valsetNonce, address[] validators, uint256[] powers);
    event BatchExecuted(uint256 indexed eventNonce, uint256 indexed batchNonce, uint256 withdrawals);
    event WithdrawalDeferred(uint256 indexed batchNonce, address indexed token, address indexed recipient, uint256 amount);
    event DeferredClaimed(address indexed token, address indexed account, address to, uint256 amount);
    event GuardianChanged(address indexed previous, address indexed guardian, uint256 nonce);
    event Paused(address guardian);
    event Unpaused(address guardian);
    event DailyLimitSet(address indexed token, uint256 limit);

    // ---------------------------------------------------------------------------------------------
    // Errors (each with the context needed to understand it)
    // ---------------------------------------------------------------------------------------------

    // valsets (rule 3, 5)
    error EmptyValset();
    error ValsetLengthMismatch(uint256 validators, uint256 powers);
    error ZeroValidatorAddress(uint256 index);
    error ValidatorsNotAscending(uint256 index, address previous, address validator);
    error ZeroPower(uint256 index);
    error TotalPowerTooLow(uint256 total, uint256 threshold);
    error TotalPowerTooHigh(uint256 total, uint256 maximum);
    error ValsetCheckpointMismatch(bytes32 stored, bytes32 provided);
    error ValsetNonceNotIncreasing(uint256 current, uint256 proposed);
    error ValsetNonceJumpTooLarge(uint256 current, uint256 proposed, uint256 maxJump);
    error GenesisValsetNonceTooLarge(uint256 nonce, uint256 maximum);
    // signatures (rule 4)
    error SignatureCountMismatch(uint256 signatures, uint256 validators);
    error InvalidSignatureV(uint256 index, uint256 v);
    error MalleableSignature(uint256 index, bytes32 s);
    error InvalidSignature(uint256 index, address expected, address recovered);
    error InsufficientPower(uint256 signed, uint256 required);
    // deposits (rule 2)
    error ZeroAmount();
    error ZeroRecipient();
    error InvalidToken(address token);
    error NothingReceived(address token, uint256 balanceBefore, uint256 balanceAfter);
    // batches (rule 6)
    error BatchAlreadyExecuted(uint256 batchNonce);
    error BatchTimedOut(uint256 batchNonce, uint256 timeoutL1Block, uint256 blockNumber);
    error EmptyBatch();
    error ZeroWithdrawalRecipient(uint256 index);
    error WithdrawalTotalOverflow(address token);
    error EventNonceExhausted();
    error BalanceQueryFailed(address token);
    error InsufficientBalance(address token, uint256 available, uint256 required);
    error DailyLimitExceeded(address token, uint256 releasedToday, uint256 requested, uint256 limit);
    /// @dev index == withdrawals.length + k: the relayer-fee payment of the k-th token of the batch.
    error InsufficientGasForPayout(uint256 index, uint256 gasLeft, uint256 required);
    // claims (rule 7)
    error NothingToClaim(address token, address account);
    error ClaimFailed(address token, address to, uint256 amount);
    // guardian (rule 8)
    error BridgePaused();
    error NotGuardian(address caller, address guardian);
    error ZeroGuardian();
    error GuardianNonceMismatch(uint256 expected, uint256 provided);

    // ---------------------------------------------------------------------------------------------
    // Construction
    // ---------------------------------------------------------------------------------------------

    constructor(Valset memory genesisValset, address guardian_) EIP712("SidechainBridge", "1") {
        if (guardian_ == address(0)) revert ZeroGuardian();
        _validateValsetMemory(genesisValset.validators, genesisValset.powers);
        // Rule 5 caps each update's nonce jump so that no nonce can lock the contract; the genesis nonce
        // needs the same protection (a genesis nonce near 2^256 would make every update impossible).
        if (genesisValset.nonce > MAX_GENESIS_VALSET_NONCE) {
            revert GenesisValsetNonceTooLarge(genesisValset.nonce, MAX_GENESIS_VALSET_NONCE);
        }
        _valsetCheckpoint = _hashTypedDataV4(
            keccak256(
                abi.encode(
                    VALSET_TYPEHASH,
                    genesisValset.nonce,
                    keccak256(abi.encodePacked(genesisValset.validators)),
                    keccak256(abi.encodePacked(genesisValset.powers))
                )
            )
        );
        _valsetNoncePlusOne = genesisValset.nonce + 1;
        _core = Core({lastEventNonce: 1, paused: false, guardian: guardian_});
        emit GuardianChanged(address(0), guardian_, 0);
        emit ValsetUpdated(1, genesisValset.nonce, genesisValset.validators, genesisValset.powers);
    }

    // ---------------------------------------------------------------------------------------------
    // Deposits (rule 2)
    // ---------------------------------------------------------------------------------------------

    function depositETH(bytes20 recipient) external payable nonReentrant {
        if (recipient == bytes20(0)) revert ZeroRecipient();
        if (msg.value == 0) revert ZeroAmount();
        uint256 nonce = _nextEventNonceWhenNotPaused();
        // emit Deposit(nonce, address(0), msg.sender, recipient, msg.value), from scratch memory.
        bytes32 topic = Deposit.selector;
        assembly ("memory-safe") {
            mstore(0, recipient)
            mstore(0x20, callvalue())
            log4(0, 0x40, topic, nonce, 0, caller())
        }
    }

    function depositERC20(address token, uint256 amount, bytes20 recipient) external nonReentrant {
        if (recipient == bytes20(0)) revert ZeroRecipient();
        if (amount == 0) revert ZeroAmount();
        // token 0 is ETH; a token without code could "succeed" at anything.
        if (token.code.length == 0) revert InvalidToken(token);
        if (_core.paused) revert BridgePaused();
        uint256 balanceBefore = IERC20(token).balanceOf(address(this));
        IERC20(token).safeTransferFrom(msg.sender, address(this), amount);
        uint256 balanceAfter = IERC20(token).balanceOf(address(this));
        if (balanceAfter <= balanceBefore) revert NothingReceived(token, balanceBefore, balanceAfter);
        emit Deposit(_nextEventNonce(), token, msg.sender, recipient, balanceAfter - balanceBefore);
    }

    // ---------------------------------------------------------------------------------------------
    // Valset updates (rule 5)
    // ---------------------------------------------------------------------------------------------

    function updateValset(Valset calldata newValset, Valset calldata currentValset, Signature[] calldata sigs)
        external
        nonReentrant
    {
        _checkCurrentValset(currentValset);
        uint256 currentNonce = currentValset.nonce;
        uint256 newNonce = newValset.nonce;
        if (newNonce <= currentNonce) revert ValsetNonceNotIncreasing(currentNonce, newNonce);
        if (newNonce - currentNonce > MAX_VALSET_NONCE_JUMP) {
            revert ValsetNonceJumpTooLarge(currentNonce, newNonce, MAX_VALSET_NONCE_JUMP);
        }
        _validateValsetCalldata(newValset.validators, newValset.powers);
        bytes32 newCheckpoint = _valsetDigest(newValset);
        _checkSignatures(currentValset, sigs, newCheckpoint);

        _valsetCheckpoint = newCheckpoint;
        _valsetNoncePlusOne = newNonce + 1;
        _emitValsetUpdated(_nextEventNonce(), newNonce, newValset.validators, newValset.powers);
    }

    /// @dev emit ValsetUpdated(eventNonce, valsetNonce, validators, powers), ABI-encoding the two arrays by
    ///      copying them from calldata (validated clean) rather than element by element.
    function _emitValsetUpdated(
        uint256 nonce,
        uint256 newValsetNonce,
        address[] calldata validators,
        uint256[] calldata powers
    ) private {
        bytes32 topic = ValsetUpdated.selector;
        assembly ("memory-safe") {
            let n := validators.length
            let size := shl(5, n)
            let ptr := mload(0x40)
            mstore(ptr, 0x40) // offset of validators
            mstore(add(ptr, 0x20), add(0x60, size)) // offset of powers
            mstore(add(ptr, 0x40), n)
            calldatacopy(add(ptr, 0x60), validators.offset, size)
            let q := add(add(ptr, 0x60), size)
            mstore(q, n)
            calldatacopy(add(q, 0x20), powers.offset, size)
            log3(ptr, add(0x80, shl(1, size)), topic, nonce, newValsetNonce)
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Batches (rule 6)
    // ---------------------------------------------------------------------------------------------

    function submitBatch(
        Valset calldata currentValset,
        Signature[] calldata sigs,
        Batch calldata batch,
        Withdrawal[] calldata withdrawals
    ) external nonReentrant {
        uint256 batchNonce = batch.nonce;
        uint256 n = withdrawals.length;
        {
            if (_core.paused) revert BridgePaused();
            (uint256 bucket, uint256 bit) = (batchNonce >> 8, uint256(1) << (batchNonce & 0xff));
            uint256 executed = _executedBatches[bucket];
            if (executed & bit != 0) revert BatchAlreadyExecuted(batchNonce);
            if (block.number >= batch.timeoutL1Block) {
                revert BatchTimedOut(batchNonce, batch.timeoutL1Block, block.number);
            }
            if (n == 0) revert EmptyBatch();
            _checkCurrentValset(currentValset);
            _checkSignatures(currentValset, sigs, _batchDigest(batch, withdrawals));
            _executedBatches[bucket] = executed | bit;
        }

        // Per-token totals in memory: [token, amount + fee, fee] for each distinct token.
        (uint256 totals, uint256 tokenCount) = _sumPerToken(withdrawals);
        _checkBalancesAndDailyLimits(totals, tokenCount);

        _payWithdrawals(batchNonce, withdrawals);
        _payFees(batchNonce, totals, tokenCount, n);

        emit BatchExecuted(_nextEventNonce(), batchNonce, n);
    }

    // ---------------------------------------------------------------------------------------------
    // Deferred payouts (rule 7)
    // ---------------------------------------------------------------------------------------------

    function claimDeferred(address token, address to) external nonReentrant {
        if (_core.paused) revert BridgePaused();
        if (to == address(0)) revert ZeroRecipient();
        uint256 amount = deferred[token][msg.sender];
        if (amount == 0) revert NothingToClaim(token, msg.sender);
        deferred[token][msg.sender] = 0;
        totalDeferred[token] -= amount;
        bool ok = token == address(0) ? _sendETH(to, amount, gasleft()) : _sendERC20(token, to, amount, gasleft());
        if (!ok) revert ClaimFailed(token, to, amount);
        emit DeferredClaimed(token, msg.sender, to, amount);
    }

    // ---------------------------------------------------------------------------------------------
    // Guardian (rule 8)
    // ---------------------------------------------------------------------------------------------

    function setGuardian(address newGuardian, uint256 nonce, Valset calldata currentValset, Signature[] calldata sigs)
        external
        nonReentrant
    {
        if (newGuardian == address(0)) revert ZeroGuardian();
        uint256 expected = _guardianNonce + 1;
        if (nonce != expected) revert GuardianNonceMismatch(expected, nonce);
        _checkCurrentValset(currentValset);
        bytes32 digest = _hashTypedDataV4(keccak256(abi.encode(GUARDIAN_CHANGE_TYPEHASH, nonce, newGuardian)));
        _checkSignatures(currentValset, sigs, digest);
        _guardianNonce = nonce;
        address previous = _core.guardian;
        _core.guardian = newGuardian;
        emit GuardianChanged(previous, newGuardian, nonce);
    }

    function pause() external nonReentrant {
        _onlyGuardian();
        _core.paused = true;
        emit Paused(msg.sender);
    }

    function unpause() external nonReentrant {
        _onlyGuardian();
        _core.paused = false;
        emit Unpaused(msg.sender);
    }

    /// @dev 0 = unlimited.
    function setDailyLimit(address token, uint256 limit) external nonReentrant {
        _onlyGuardian();
        dailyLimit[token] = limit;
        emit DailyLimitSet(token, limit);
    }

    // ---------------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------------

    function valsetCheckpoint() external view returns (bytes32) {
        return _valsetCheckpoint;
    }

    function valsetNonce() external view returns (uint256) {
        return _valsetNoncePlusOne - 1;
    }

    function eventNonce() external view returns (uint256) {
        return _core.lastEventNonce;
    }

    function batchExecuted(uint256 batchNonce) external view returns (bool) {
        return _executedBatches[batchNonce >> 8] & (uint256(1) << (batchNonce & 0xff)) != 0;
    }

    function guardian() external view returns (address) {
        return _core.guardian;
    }

    function guardianNonce() external view returns (uint256) {
        return _guardianNonce;
    }

    function paused() external view returns (bool) {
        return _core.paused;
    }

    // ---------------------------------------------------------------------------------------------
    // Internals: event counter, guardian
    // ---------------------------------------------------------------------------------------------

    /// @dev Core packs lastEventNonce in bits 0-63 and paused in bits 64-71 of one slot.
    function _nextEventNonceWhenNotPaused() private returns (uint256 nonce) {
        uint256 word;
        assembly ("memory-safe") {
            word := sload(_core.slot)
        }
        if ((word >> 64) & 0xff != 0) revert BridgePaused();
        nonce = _storeNextEventNonce(word);
    }

    function _nextEventNonce() private returns (uint256 nonce) {
        uint256 word;
        assembly ("memory-safe") {
            word := sload(_core.slot)
        }
        nonce = _storeNextEventNonce(word);
    }

    function _storeNextEventNonce(uint256 word) private returns (uint256 nonce) {
        nonce = (word & type(uint64).max) + 1;
        if (nonce > type(uint64).max) revert EventNonceExhausted();
        assembly ("memory-safe") {
            sstore(_core.slot, add(word, 1))
        }
    }

    function _onlyGuardian() private view {
        address current = _core.guardian;
        if (msg.sender != current) revert NotGuardian(msg.sender, current);
    }

    // ---------------------------------------------------------------------------------------------
    // Internals: valsets and signatures (rules 3, 4) and digests (section 4)
    // ---------------------------------------------------------------------------------------------

    function _validateValsetMemory(address[] memory validators, uint256[] memory powers) private pure {
        uint256 n = validators.length;
        if (n != powers.length) revert ValsetLengthMismatch(n, powers.length);
        if (n == 0) revert EmptyValset();
        uint256 total;
        address previous;
        for (uint256 i; i < n; ++i) {
            address validator = validators[i];
            uint256 power = powers[i];
            if (validator == address(0)) revert ZeroValidatorAddress(i);
            if (i != 0 && validator <= previous) revert ValidatorsNotAscending(i, previous, validator);
            if (power == 0) revert ZeroPower(i);
            if (power > MAX_TOTAL_POWER) revert TotalPowerTooHigh(power, MAX_TOTAL_POWER);
            total += power;
            previous = validator;
        }
        if (total > MAX_TOTAL_POWER) revert TotalPowerTooHigh(total, MAX_TOTAL_POWER);
        if (total <= POWER_THRESHOLD) revert TotalPowerTooLow(total, POWER_THRESHOLD);
    }

    /// @dev The same checks as `_validateValsetMemory`, in the same order, in one assembly pass over calldata
    ///      (the Solidity loop cost about 400 gas per validator; this one about 60).
    function _validateValsetCalldata(address[] calldata validators, uint256[] calldata powers) private pure {
        uint256 n = validators.length;
        if (n != powers.length) revert ValsetLengthMismatch(n, powers.length);
        if (n == 0) revert EmptyValset();
        uint256 total;
        uint256 failedAt; // index + 1 of the first malformed entry, 0 if none
        assembly ("memory-safe") {
            let previous := 0
            let v := validators.offset
            let p := powers.offset
            let size := shl(5, n)
            // Ascending from previous = 0 also means non-zero; 1 <= power <= 2^32 is (power - 1) < 2^32.
            for { let i := 0 } lt(i, size) { i := add(i, 0x20) } {
                let validator := calldataload(add(v, i))
                if iszero(and(gt(validator, previous), lt(sub(calldataload(add(p, i)), 1), 0x100000000))) {
                    failedAt := add(shr(5, i), 1)
                    break
                }
                total := add(total, calldataload(add(p, i))) // n * 2^32 cannot overflow
                previous := validator
            }
            // Strictly ascending, so if the last address is ABI-clean (< 2^160), all of them are.
            if shr(160, previous) { revert(0, 0) }
        }
        if (failedAt != 0) {
            uint256 i = failedAt - 1;
            address validator = validators[i];
            uint256 power = powers[i];
            if (validator == address(0)) revert ZeroValidatorAddress(i);
            if (i != 0 && validator <= validators[i - 1]) revert ValidatorsNotAscending(i, validators[i - 1], validator);
            if (power == 0) revert ZeroPower(i);
            revert TotalPowerTooHigh(power, MAX_TOTAL_POWER);
        }
        if (total > MAX_TOTAL_POWER) revert TotalPowerTooHigh(total, MAX_TOTAL_POWER);
        if (total <= POWER_THRESHOLD) revert TotalPowerTooLow(total, POWER_THRESHOLD);
    }

    /// @dev EIP-712 encoding of address[] and uint256[]: keccak256 of the array's 32-byte words, read straight
    ///      from calldata (= keccak256(abi.encodePacked(array)) for clean words; dirty words cannot match a digest).
    function _hashAddresses(address[] calldata array) private pure returns (bytes32 h) {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            let size := shl(5, array.length)
            calldatacopy(ptr, array.offset, size)
            h := keccak256(ptr, size)
        }
    }

    function _hashUints(uint256[] calldata array) private pure returns (bytes32 h) {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            let size := shl(5, array.length)
            calldatacopy(ptr, array.offset, size)
            h := keccak256(ptr, size)
        }
    }

    function _valsetDigest(Valset calldata valset) private view returns (bytes32) {
        bytes32 validatorsHash = _hashAddresses(valset.validators);
        bytes32 powersHash = _hashUints(valset.powers);
        return _hashTypedDataV4(keccak256(abi.encode(VALSET_TYPEHASH, valset.nonce, validatorsHash, powersHash)));
    }

    /// @dev withdrawalsHash = keccak256(abi.encode(withdrawals)): offset word 0x20, length, 4 words each.
    function _batchDigest(Batch calldata batch, Withdrawal[] calldata withdrawals) internal view returns (bytes32) {
        bytes32 withdrawalsHash;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            let size := shl(7, withdrawals.length)
            mstore(ptr, 0x20)
            mstore(add(ptr, 0x20), withdrawals.length)
            calldatacopy(add(ptr, 0x40), withdrawals.offset, size)
            withdrawalsHash := keccak256(ptr, add(size, 0x40))
        }
        return _hashTypedDataV4(keccak256(abi.encode(BATCH_TYPEHASH, batch.nonce, batch.timeoutL1Block, withdrawalsHash)));
    }

    function _checkCurrentValset(Valset calldata currentValset) private view {
        bytes32 provided = _valsetDigest(currentValset);
        bytes32 stored = _valsetCheckpoint;
        if (provided != stored) revert ValsetCheckpointMismatch(stored, provided);
    }

    /// @dev currentValset has been checked against the checkpoint, so its lengths match, its addresses are
    ///      clean and non-zero and its powers sum to <= 2^32. Every signature given (v != 0) must be valid.
    ///
    ///      The loop applies OpenZeppelin ECDSA.tryRecover's acceptance rule in assembly (v is 27 or 28, s in the
    ///      lower half of the curve order, the ecrecover precompile returns a non-zero address) and requires
    ///      that address to be validators[i]. Through OpenZeppelin's Solidity path a signature cost ~560 gas on
    ///      top of the precompile's 3,000; here ~150, which is what brings a 100-validator valset update near
    ///      its calldata floor. The first signature that fails is re-examined with ECDSA.tryRecover itself to
    ///      name the error, so both paths accept and reject exactly the same signatures.
    function _checkSignatures(Valset calldata currentValset, Signature[] calldata sigs, bytes32 digest) private view {
        address[] calldata validators = currentValset.validators;
        uint256[] calldata powers = currentValset.powers;
        uint256 n = validators.length;
        if (sigs.length != n) revert SignatureCountMismatch(sigs.length, n);
        uint256 signedPower;
        uint256 failedAt; // index + 1 of the first invalid signature, 0 if none
        assembly ("memory-safe") {
            // ecrecover input at the free memory pointer: digest, v, r, s (not kept: no allocation).
            let input := mload(0x40)
            mstore(input, digest)
            let sig := sigs.offset
            let validator := validators.offset
            let power := powers.offset
            for { let end := add(sig, mul(n, 0x60)) } lt(sig, end) {
                sig := add(sig, 0x60)
                validator := add(validator, 0x20)
                power := add(power, 0x20)
            } {
                let v := calldataload(sig)
                if v {
                    let s := calldataload(add(sig, 0x40))
                    // v - 27 > 1 also catches v < 27 (wraps around); s > (n / 2) is malleable.
                    if or(gt(sub(v, 27), 1), gt(s, 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0)) {
                        failedAt := add(div(sub(sig, sigs.offset), 0x60), 1)
                        break
                    }
                    mstore(add(input, 0x20), v)
                    calldatacopy(add(input, 0x40), add(sig, 0x20), 0x40) // r, s
                    mstore(0, 0) // the precompile returns nothing when recovery fails
                    pop(staticcall(gas(), 0x01, input, 0x80, 0, 0x20))
                    let signer := mload(0)
                    if or(iszero(signer), iszero(eq(signer, calldataload(validator)))) {
                        failedAt := add(div(sub(sig, sigs.offset), 0x60), 1)
                        break
                    }
                    signedPower := add(signedPower, calldataload(power)) // <= 2^32 in total
                }
            }
        }
        if (failedAt != 0) _revertInvalidSignature(digest, failedAt - 1, sigs[failedAt - 1], validators[failedAt - 1]);
        if (signedPower <= POWER_THRESHOLD) revert InsufficientPower(signedPower, POWER_THRESHOLD + 1);
    }

    /// @dev Names why signature i failed, using OpenZeppelin ECDSA.tryRecover.
    function _revertInvalidSignature(bytes32 digest, uint256 i, Signature calldata sig, address expected)
        private
        pure
    {
        if (sig.v != 27 && sig.v != 28) revert InvalidSignatureV(i, sig.v);
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, sig.v, sig.r, sig.s);
        if (err == ECDSA.RecoverError.InvalidSignatureS) revert MalleableSignature(i, sig.s);
        revert InvalidSignature(i, expected, signer);
    }

    // ---------------------------------------------------------------------------------------------
    // Internals: batch execution
    // ---------------------------------------------------------------------------------------------

    /// @dev Returns a memory pointer to `tokenCount` records of three words [token, amount + fee, fee], one per
    ///      distinct token in order of first appearance. Reverts on a zero recipient or an overflowing total.
    function _sumPerToken(Withdrawal[] calldata withdrawals) private pure returns (uint256 totals, uint256 tokenCount) {
        uint256 zeroRecipient; // index + 1 of the first withdrawal to the zero address
        uint256 overflowToken; // token + 1 whose total overflows
        assembly ("memory-safe") {
            totals := mload(0x40)
            let record := 0
            let lastToken := not(0) // no address equals this
            let p := withdrawals.offset
            let end := add(p, shl(7, withdrawals.length))
            for {} lt(p, end) { p := add(p, 0x80) } {
                let token := calldataload(p)
                // ABI validation: the addresses must be clean (they are hashed raw into the signed digest).
                if or(shr(160, token), shr(160, calldataload(add(p, 0x20)))) { revert(0, 0) }
                if iszero(calldataload(add(p, 0x20))) {
                    if iszero(zeroRecipient) { zeroRecipient := add(shr(7, sub(p, withdrawals.offset)), 1) }
                }
                if iszero(eq(token, lastToken)) {
                    lastToken := token
                    let recordsEnd := add(totals, mul(tokenCount, 0x60))
                    record := totals
                    for {} lt(record, recordsEnd) { record := add(record, 0x60) } {
                        if eq(mload(record), token) { break }
                    }
                    if eq(record, recordsEnd) {
                        mstore(record, token)
                        mstore(add(record, 0x20), 0)
                        mstore(add(record, 0x40), 0)
                        tokenCount := add(tokenCount, 1)
                    }
                }
                let amount := calldataload(add(p, 0x40))
                let fee := calldataload(add(p, 0x60))
                let sum := add(amount, fee)
                let total := add(mload(add(record, 0x20)), sum)
                // fee <= sum <= total, so the fee total cannot overflow when these two checks pass.
                if or(lt(sum, amount), lt(total, sum)) { if iszero(overflowToken) { overflowToken := add(token, 1) } }
                mstore(add(record, 0x20), total)
                mstore(add(record, 0x40), add(mload(add(record, 0x40)), fee))
            }
            mstore(0x40, add(totals, mul(tokenCount, 0x60)))
        }
        if (zeroRecipient != 0) revert ZeroWithdrawalRecipient(zeroRecipient - 1);
        if (overflowToken != 0) revert WithdrawalTotalOverflow(address(uint160(overflowToken - 1)));
    }

    function _checkBalancesAndDailyLimits(uint256 totals, uint256 tokenCount) private {
        uint256 day = block.timestamp / 86400;
        for (uint256 k; k < tokenCount; ++k) {
            address token;
            uint256 total;
            assembly ("memory-safe") {
                let record := add(totals, mul(k, 0x60))
                token := mload(record)
                total := mload(add(record, 0x20))
            }
            // Rule 6: balance minus what is owed to earlier deferrals must cover the batch.
            uint256 balance = token == address(0) ? address(this).balance : _balanceOf(token);
            uint256 owed = totalDeferred[token];
            uint256 available = balance > owed ? balance - owed : 0;
            if (available < total) revert InsufficientBalance(token, available, total);

            // Daily limit: the day's count is kept whether or not a limit is set.
            DayCount memory count = _dayCount[token];
            uint256 releasedToday = count.day == day ? count.released : 0;
            uint256 released = releasedToday + total;
            uint256 limit = dailyLimit[token];
            if (limit != 0 && released > limit) revert DailyLimitExceeded(token, releasedToday, total, limit);
            _dayCount[token] = DayCount({
                day: uint64(day),
                released: released > type(uint192).max ? type(uint192).max : uint192(released)
            });
        }
    }

    function _balanceOf(address token) private view returns (uint256 tokenBalance) {
        bool ok;
        assembly ("memory-safe") {
            mstore(0, 0x70a08231) // balanceOf(address)
            mstore(0x20, address())
            ok := staticcall(gas(), token, 0x1c, 0x24, 0, 0x20)
            ok := and(ok, gt(returndatasize(), 0x1f))
            tokenBalance := mload(0)
        }
        if (!ok) revert BalanceQueryFailed(token);
    }

    function _payWithdrawals(uint256 batchNonce, Withdrawal[] calldata withdrawals) private {
        uint256 n = withdrawals.length;
        uint256 offset;
        assembly ("memory-safe") {
            offset := withdrawals.offset
        }
        for (uint256 i; i < n; ) {
            address token;
            address recipient;
            uint256 amount;
            assembly ("memory-safe") {
                let p := add(offset, shl(7, i))
                token := calldataload(p)
                recipient := calldataload(add(p, 0x20))
                amount := calldataload(add(p, 0x40))
            }
            if (amount != 0) {
                bool ok;
                if (token == address(0)) {
                    if (gasleft() < ETH_PAYOUT_MIN_GAS) revert InsufficientGasForPayout(i, gasleft(), ETH_PAYOUT_MIN_GAS);
                    ok = _sendETH(recipient, amount, ETH_PAYOUT_GAS);
                } else {
                    if (gasleft() < ERC20_PAYOUT_MIN_GAS) {
                        revert InsufficientGasForPayout(i, gasleft(), ERC20_PAYOUT_MIN_GAS);
                    }
                    ok = _sendERC20(token, recipient, amount, ERC20_PAYOUT_GAS);
                }
                if (!ok) _defer(batchNonce, token, recipient, amount);
            }
            unchecked {
                ++i;
            }
        }
    }

    /// @dev Fees are summed per token and paid to the relayer once; a failed fee payment is deferred to it.
    function _payFees(uint256 batchNonce, uint256 totals, uint256 tokenCount, uint256 n) private {
        for (uint256 k; k < tokenCount; ++k) {
            address token;
            uint256 fee;
            assembly ("memory-safe") {
                let record := add(totals, mul(k, 0x60))
                token := mload(record)
                fee := mload(add(record, 0x40))
            }
            if (fee == 0) continue;
            bool ok;
            if (token == address(0)) {
                if (gasleft() < ETH_PAYOUT_MIN_GAS) revert InsufficientGasForPayout(n + k, gasleft(), ETH_PAYOUT_MIN_GAS);
                ok = _sendETH(msg.sender, fee, ETH_PAYOUT_GAS);
            } else {
                if (gasleft() < ERC20_PAYOUT_MIN_GAS) {
                    revert InsufficientGasForPayout(n + k, gasleft(), ERC20_PAYOUT_MIN_GAS);
                }
                ok = _sendERC20(token, msg.sender, fee, ERC20_PAYOUT_GAS);
            }
            if (!ok) _defer(batchNonce, token, msg.sender, fee);
        }
    }

    function _defer(uint256 batchNonce, address token, address account, uint256 amount) private {
        deferred[token][account] += amount;
        totalDeferred[token] += amount;
        emit WithdrawalDeferred(batchNonce, token, account, amount);
    }

    /// @dev A CALL with value and a fixed gas argument that copies no return data. Paying the bridge itself
    ///      counts as failed (the amount stays owed instead of becoming an unaccounted surplus).
    function _sendETH(address to, uint256 amount, uint256 gasAllowance) private returns (bool ok) {
        if (to == address(this)) return false;
        assembly ("memory-safe") {
            ok := call(gasAllowance, to, amount, 0, 0, 0, 0)
        }
    }

    /// @dev transfer(to, amount) with a fixed gas argument, copying at most 32 bytes of return data.
    ///      Success as SafeERC20 defines it: the call succeeded and returned either nothing (from a token with
    ///      code) or a word equal to 1.
    function _sendERC20(address token, address to, uint256 amount, uint256 gasAllowance) private returns (bool ok) {
        if (to == address(this)) return false;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, shl(224, 0xa9059cbb)) // transfer(address,uint256)
            mstore(add(ptr, 0x04), to)
            mstore(add(ptr, 0x24), amount)
            mstore(0, 0)
            ok := call(gasAllowance, token, 0, ptr, 0x44, 0, 0x20)
            if ok {
                switch returndatasize()
                case 0 { ok := gt(extcodesize(token), 0) }
                default { ok := and(gt(returndatasize(), 0x1f), eq(mload(0), 1)) }
            }
        }
    }
}
