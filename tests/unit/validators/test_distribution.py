"""Rewards: fees and issuance to the signers of the last commit, commission, the community pool."""

from __future__ import annotations

from sidechain.bank.msgs import MsgSend
from sidechain.gen.sidechain.staking.v1 import staking_pb2 as pb
from sidechain.tx import build_signed_tx
from sidechain.types import Amount, Coin
from tests.support.pos import validator_keys
from tests.unit.validators.chain import CHAIN_ID, POWER, PosChain, addr_of, delegator_key
from validators import distribution as dist

D0, D1 = delegator_key(0), delegator_key(1)


def rewards(c: PosChain, who: bytes, validator: str = "val1") -> int:
    body = c.query(f"/distribution/rewards/{_b(who)}/{validator}")
    coins = body["rewards"][0]["rewards"]
    return int(coins[0]["dec"]) if coins else 0


def test_rewards_grow_each_block_and_withdraw_pays_them() -> None:
    c = PosChain()
    v1 = validator_keys(1)
    c.block([c.tx(D0, "staking.MsgDelegate", pb.MsgDelegate(delegator=addr_of(D0), validator=v1.operator,
                                                            amount=str(20 * POWER)))])
    c.block()
    seen = []
    for _ in range(4):
        c.block()
        seen.append(rewards(c, addr_of(D0)))
    assert seen == sorted(seen) and seen[0] > 0 and len(set(seen)) == 4  # growing block by block
    before = c.balance(addr_of(D0))
    out = c.block([c.tx(D0, "staking.MsgWithdrawRewards", pb.MsgWithdrawRewards(delegator=addr_of(D0),
                                                                                validator=v1.operator))])
    assert out.tx_results[0].code == 0, out.tx_results[0].log
    paid = c.balance(addr_of(D0)) - before + 1  # + the fee
    assert paid >= seen[-1] // dist.DEC and paid > 0
    assert rewards(c, addr_of(D0)) < seen[-1]  # started over
    c.check_invariants()


def test_commission_goes_to_the_operator_and_fees_are_shared() -> None:
    c = PosChain()
    c.block()
    # fees of a block are shared in the next one: send some fee-heavy transfers
    txs = [build_signed_tx(D1, CHAIN_ID, [MsgSend(addr_of(D1), addr_of(D0), (Coin("stake", Amount(1)),)).to_proto()],
                           i, Coin("stake", Amount(10_000))) for i in range(5)]
    c.block(txs)
    c.block()
    commission = c.query("/distribution/commission/val3")["commission"]
    accrued = int(commission[0]["dec"])
    # val3 has 40% of the signing power: its 10% commission on its share of 50,000 fees and 2,000 issued
    assert accrued >= (50_000 + 2_000) * 97 // 100 * 40 // 100 * 10 // 100 * dist.DEC
    op = validator_keys(3)
    for _ in range(2):  # the second time, only what the blocks in between brought
        before = c.balance(op.operator)
        out = c.block([c.tx(op.operator_key, "staking.MsgWithdrawCommission", pb.MsgWithdrawCommission(
            operator=op.operator))])
        assert out.tx_results[0].code == 0, out.tx_results[0].log
        event = next(e for e in out.tx_results[0].events if e.type == "commission")
        paid = int(dict((a.key, a.value) for a in event.attributes)["amount"].removesuffix("stake"))
        assert paid > 0 and c.balance(op.operator) == before - 1 + paid  # the fee was 1stake
        left = c.query("/distribution/commission/val3")["commission"]
        assert not left or int(left[0]["dec"]) < dist.DEC  # only the fraction of a token is left
    pool = c.query("/distribution/community-pool")["pool"]
    assert pool and int(pool[0]["dec"]) > 0  # 2% community tax
    c.check_invariants()


def test_absent_validators_earn_nothing_for_the_block() -> None:
    c = PosChain()
    c.run(3)
    before = dist.get_outstanding(c.state, validator_keys(2).operator).get("stake", 0)
    c.run(3, absent=[2])
    after = dist.get_outstanding(c.state, validator_keys(2).operator).get("stake", 0)
    assert after == before
    c.check_invariants()


def test_supply_is_genesis_plus_issuance_minus_burns() -> None:
    c = PosChain()
    c.run(10)
    assert c.supply() == c.genesis_supply + 1000 * 10  # issuance_per_block is 1000 in the tests


def _b(a: bytes) -> str:
    from sidechain.types import bech32_address

    return bech32_address(a, "side")
