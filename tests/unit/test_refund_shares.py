"""refund_shares: a refund split over an order's lines by value, in whole minor units."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from projections.seller_sales.projection import refund_shares


def test_the_unit_left_goes_to_the_largest_remainder() -> None:
    assert refund_shares(1000, [3000, 4000]) == [429, 571]
    assert refund_shares(500, [1500, 750]) == [333, 167]
    assert refund_shares(1, [1, 1]) == [1, 0]
    assert refund_shares(5, [0, 0]) == [0, 0]


@given(
    st.integers(min_value=0, max_value=10**9),
    st.lists(st.integers(min_value=0, max_value=10**7), min_size=1, max_size=20),
)
def test_shares_add_up_and_stay_within_one_unit_of_the_exact_share(
    amount: int, values: list[int]
) -> None:
    shares = refund_shares(amount, values)
    total = sum(values)
    if total == 0:
        assert shares == [0] * len(values)
        return
    assert sum(shares) == amount
    for share, value in zip(shares, values, strict=True):
        assert abs(share * total - amount * value) < total
