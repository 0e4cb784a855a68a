"""Supply accounting across a long random scenario (hypothesis stateful): after every step, for every token,

    contract balance == deposits credited - (amount + fee of executed batches) + totalDeferred(token)

which is section 5's invariant seen from L1 (money leaves only as payouts and claims; deferred money stays),
and equivalently balance == credited - paid out - fees paid - claimed, with totalDeferred == deferred - claimed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from bridge.errors import ContractRevertError
from bridge.protocol import ETH_TOKEN, Withdrawal
from tests.unit.bridge.conftest import RECIPIENT, World, fresh_address


@dataclass
class Ledger:
    credited: int = 0
    batched: int = 0  # amount + fee of every withdrawal in executed batches
    paid: int = 0  # amounts and fees that left the contract in batches
    deferred: int = 0  # added to deferred balances
    claimed: int = 0
    owed: dict[str, int] = field(default_factory=dict)


def test_supply_accounting_holds_after_every_step(_world_and_snapshot: tuple[World, int]) -> None:
    world, snapshot = _world_and_snapshot

    class Scenario(RuleBasedStateMachine):
        @initialize()
        def setup(self) -> None:
            world.l1.revert(snapshot)
            world.next_batch_nonce = 1
            self.refuser = world.deploy("RevertingRecipient")
            self.burner = world.deploy("GasBurningRecipient")
            self.relay_contract = world.deploy("NonReceivingRelayer")
            self.blocked = world.l1.accounts[8]
            world.send(world.token.functions.setBlocked(self.blocked, True), world.user)
            self.tokens = {"ETH": ETH_TOKEN, "TST": world.token.address, "FOT": world.fot.address}
            self.ledger = {name: Ledger() for name in self.tokens}
            self.paused = False
            self.fresh = 100

        # -- steps ------------------------------------------------------------------------------------

        @rule(amount=st.integers(1, 10**19))
        def deposit_eth(self, amount: int) -> None:
            if self._expect_paused(lambda: world.bridge.deposit_eth(RECIPIENT, amount, world.user)) is None:
                return
            self.ledger["ETH"].credited += amount

        @rule(name=st.sampled_from(["TST", "FOT"]), amount=st.integers(1, 10**24))
        def deposit_token(self, name: str, amount: int) -> None:
            token = world.token if name == "TST" else world.fot
            world.send(token.functions.mint(world.user, amount), world.user)
            world.send(token.functions.approve(world.bridge.address, amount), world.user)
            receipt = self._expect_paused(
                lambda: world.bridge.deposit_erc20(token.address, amount, RECIPIENT, world.user)
            )
            if receipt:
                self.ledger[name].credited += world.events(receipt, "Deposit")[0].args["amount"]

        @rule(
            picks=st.lists(
                st.tuples(
                    st.sampled_from(["ETH", "TST", "FOT"]),
                    st.sampled_from(["fresh", "fresh", "fresh", "refuser", "burner", "blocked"]),
                    st.integers(0, 1000),  # per-mille of what is available
                    st.integers(0, 50),  # fee, per-mille of the amount
                ),
                min_size=1,
                max_size=6,
            ),
            via_contract=st.booleans(),
            overdraw=st.integers(0, 4).map(lambda x: x == 0),
        )
        def submit_batch(self, picks: list, via_contract: bool, overdraw: bool) -> None:
            self._submit_batch(picks, via_contract, overdraw)

        # The same step once more, so that batches make up a larger share of the scenario.
        @rule(
            picks=st.lists(
                st.tuples(
                    st.sampled_from(["ETH", "TST", "FOT"]),
                    st.sampled_from(["fresh", "refuser", "burner", "blocked"]),
                    st.integers(0, 1000),
                    st.integers(0, 50),
                ),
                min_size=1,
                max_size=6,
            ),
            via_contract=st.booleans(),
        )
        def submit_another_batch(self, picks: list, via_contract: bool) -> None:
            self._submit_batch(picks, via_contract, False)

        def _submit_batch(self, picks: list, via_contract: bool, overdraw: bool) -> None:
            available = {n: self._balance(n) - world.bridge.total_deferred(t) for n, t in self.tokens.items()}
            withdrawals = []
            for name, who, share, fee_share in picks:
                # amount + fee of every pick together stays within what is available
                amount = available[name] * share // 1000 // len(picks) * 1000 // (1000 + fee_share)
                fee = amount * fee_share // 1000
                withdrawals.append(Withdrawal.of(self.tokens[name], self._recipient(who), amount, fee))
            if overdraw:
                first = withdrawals[0]
                extra = available[self._name(first.token)] + 1
                withdrawals[0] = Withdrawal(first.token, first.recipient, first.amount + extra, first.fee)
            batch = world.batch()
            try:
                if via_contract:
                    data = world.submit_calldata(withdrawals, batch)
                    receipt = world.send(self.relay_contract.functions.relay(world.bridge.address, data), world.user)
                else:
                    receipt = world.submit(withdrawals, batch=batch)
            except ContractRevertError as exc:
                assert exc.name == ("BridgePaused" if self.paused else "InsufficientBalance"), exc
                assert overdraw or self.paused
                return
            assert not overdraw and not self.paused
            for w in withdrawals:
                self.ledger[self._name(w.token)].batched += w.amount + w.fee
            deferred_now: dict[str, int] = {}
            for log in world.events(receipt, "WithdrawalDeferred"):
                event("a payout was deferred")
                name = self._name(log.args["token"])
                deferred_now[name] = deferred_now.get(name, 0) + log.args["amount"]
                owed = self.ledger[name].owed
                owed[log.args["recipient"]] = owed.get(log.args["recipient"], 0) + log.args["amount"]
            for name in self.tokens:
                batch_total = sum(w.amount + w.fee for w in withdrawals if self._name(w.token) == name)
                self.ledger[name].deferred += deferred_now.get(name, 0)
                self.ledger[name].paid += batch_total - deferred_now.get(name, 0)

        @rule(accept=st.booleans())
        def refuser_accepts(self, accept: bool) -> None:
            world.send(self.refuser.functions.setAccept(accept), world.user)

        @rule(name=st.sampled_from(["ETH", "TST", "FOT"]), claimant=st.sampled_from(["refuser", "relayer"]))
        def claim(self, name: str, claimant: str) -> None:
            self._claim(name, claimant)

        @rule(name=st.sampled_from(["ETH", "TST", "FOT"]), claimant=st.sampled_from(["refuser", "relayer"]))
        def claim_again(self, name: str, claimant: str) -> None:
            self._claim(name, claimant)

        def _claim(self, name: str, claimant: str) -> None:
            contract = self.refuser if claimant == "refuser" else self.relay_contract
            owed = world.bridge.deferred(self.tokens[name], contract.address)
            to = fresh_address(self.fresh)
            self.fresh += 1
            try:
                world.send(contract.functions.claim(world.bridge.address, self.tokens[name], to), world.user)
            except ContractRevertError as exc:
                expected = "BridgePaused" if self.paused else "NothingToClaim"
                assert exc.name == expected, exc
                assert self.paused or owed == 0
                return
            assert owed > 0 and not self.paused
            event("a deferred balance was claimed")
            self.ledger[name].claimed += owed
            self.ledger[name].owed[contract.address] -= owed

        @rule(dice=st.integers(0, 2))
        def toggle_pause(self, dice: int) -> None:
            if dice:  # pausing a third of the times this step is drawn keeps most of the scenario unpaused
                return
            if self.paused:
                world.bridge.unpause(world.guardian)
            else:
                world.bridge.pause(world.guardian)
            self.paused = not self.paused

        # -- the invariant ------------------------------------------------------------------------------

        @invariant()
        def supply_is_accounted(self) -> None:
            for name, token in self.tokens.items():
                led = self.ledger[name]
                balance = self._balance(name)
                total_deferred = world.bridge.total_deferred(token)
                assert balance == led.credited - led.batched + total_deferred, name
                assert balance == led.credited - led.paid - led.claimed, name
                assert total_deferred == led.deferred - led.claimed, name
                for account, amount in led.owed.items():
                    assert world.bridge.deferred(token, account) == amount, (name, account)

        # -- helpers ----------------------------------------------------------------------------------

        def _expect_paused(self, action):  # type: ignore[no-untyped-def]
            try:
                receipt = action()
            except ContractRevertError as exc:
                assert self.paused and exc.name == "BridgePaused", exc
                return None
            assert not self.paused
            return receipt

        def _balance(self, name: str) -> int:
            return world.balance_of(self.tokens[name], world.bridge.address)

        def _name(self, token: str) -> str:
            return next(n for n, t in self.tokens.items() if t == token)

        def _recipient(self, who: str) -> str:
            if who == "refuser":
                return self.refuser.address
            if who == "burner":
                return self.burner.address
            if who == "blocked":
                return self.blocked
            self.fresh += 1
            return fresh_address(self.fresh)

    try:
        run_state_machine_as_test(
            Scenario,
            settings=settings(
                max_examples=8,
                stateful_step_count=20,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )
    finally:
        world.l1.revert(snapshot)
