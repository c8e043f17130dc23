"""Request planning: merging blocks into the fewest reads, limits, and slicing responses."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wqmon.protocol.modbus.planner import (
    MAX_BITS_PER_READ,
    MAX_REGISTERS_PER_READ,
    Block,
    ReadRequest,
    group_by_point,
    plan_profile,
    plan_reads,
    point_blocks,
    read_limit,
    slice_response,
)
from wqmon.protocol.modbus.profiles import RegisterType, load_profile

H, IN, C = RegisterType.HOLDING, RegisterType.INPUT, RegisterType.COIL


def spans(requests: list[ReadRequest]) -> list[tuple[RegisterType, int, int]]:
    return [(r.register_type, r.address, r.count) for r in requests]


def test_adjacent_blocks_merge_into_one_read() -> None:
    blocks = [Block("b", H, 2, 2), Block("a", H, 0, 2), Block("c", H, 4, 1)]
    assert spans(plan_reads(blocks)) == [(H, 0, 5)]


def test_gaps_merge_only_up_to_max_gap() -> None:
    blocks = [Block("a", H, 0, 2), Block("b", H, 5, 2)]
    assert spans(plan_reads(blocks)) == [(H, 0, 2), (H, 5, 2)]
    assert spans(plan_reads(blocks, max_gap=2)) == [(H, 0, 2), (H, 5, 2)]
    assert spans(plan_reads(blocks, max_gap=3)) == [(H, 0, 7)]


def test_overlapping_blocks_share_registers() -> None:
    blocks = [Block("wide", H, 10, 4), Block("inner", H, 11, 2), Block("tail", H, 13, 2)]
    (request,) = plan_reads(blocks)
    assert (request.address, request.count) == (10, 5)
    sliced = slice_response(request, [10, 11, 12, 13, 14])
    assert sliced == {"wide": [10, 11, 12, 13], "inner": [11, 12], "tail": [13, 14]}


def test_register_types_are_never_mixed() -> None:
    blocks = [Block("h", H, 0, 2), Block("i", IN, 2, 2), Block("c", C, 0, 1)]
    assert spans(plan_reads(blocks)) == [(C, 0, 1), (H, 0, 2), (IN, 2, 2)]


def test_reads_never_exceed_125_registers_or_split_a_block() -> None:
    blocks = [Block(n, H, 2 * n, 2) for n in range(100)]  # 200 consecutive registers
    requests = plan_reads(blocks)
    assert spans(requests) == [(H, 0, 124), (H, 124, 76)]
    assert all(r.count <= MAX_REGISTERS_PER_READ for r in requests)
    assert sum(len(r.blocks) for r in requests) == 100


def test_exactly_125_registers_fit_one_read() -> None:
    blocks = [Block(n, IN, n, 1) for n in range(126)]
    assert spans(plan_reads(blocks)) == [(IN, 0, 125), (IN, 125, 1)]


def test_coils_allow_2000_bits_per_read() -> None:
    fits = [Block("first", C, 0, 1), Block("last", C, 1999, 1)]
    assert spans(plan_reads(fits, max_gap=2000)) == [(C, 0, 2000)]
    too_far = [Block("first", C, 0, 1), Block("last", C, 2000, 1)]
    assert spans(plan_reads(too_far, max_gap=2000)) == [(C, 0, 1), (C, 2000, 1)]
    assert read_limit(C) == MAX_BITS_PER_READ
    assert read_limit(RegisterType.DISCRETE) == MAX_BITS_PER_READ


def test_planner_errors() -> None:
    with pytest.raises(ValueError, match="max_gap"):
        plan_reads([Block("a", H, 0, 1)], max_gap=-1)
    with pytest.raises(ValueError, match="needs 126 > 125"):
        plan_reads([Block("big", H, 0, 126)])
    assert plan_reads([]) == []


def test_short_response_is_an_error_and_bit_padding_is_ignored() -> None:
    request = ReadRequest(H, 0, 2, (Block("a", H, 0, 2),))
    with pytest.raises(ValueError, match="asked for 2 values at 0, got 1"):
        slice_response(request, [1])
    bits = ReadRequest(C, 0, 3, (Block("x", C, 2, 1),))
    assert slice_response(bits, [False, False, True, False, False, False, False, False]) == {
        "x": [1]
    }


def test_unified_analyser_profile_is_one_read() -> None:
    profile = load_profile("china-unified-analyser")
    # sample time 4101-4103, value 4104-4105, flag 4106-4111
    assert spans(plan_profile(profile)) == [(H, 4101, 11)]


def test_siemens_mag6000_profile_reads() -> None:
    profile = load_profile("siemens-mag6000")
    assert spans(plan_profile(profile)) == [(H, 3002, 2), (H, 3014, 12)]
    assert spans(plan_profile(profile, max_gap=10)) == [(H, 3002, 24)]
    assert spans(plan_profile(profile, points=["flow"])) == [(H, 3002, 2)]


def test_ca80_value_and_status_are_far_apart() -> None:
    profile = load_profile("eh-ca80-cod")
    assert spans(plan_profile(profile)) == [(IN, 0x242F, 2), (IN, 0x24AF, 1)]


def test_slices_regroup_by_point() -> None:
    profile = load_profile("china-unified-analyser")
    keys = [b.key for b in point_blocks(profile.point("value"))]
    assert keys == [("value", "value"), ("value", "status"), ("value", "sample_time")]
    (request,) = plan_profile(profile)
    grouped = group_by_point(slice_response(request, list(range(11))))
    assert grouped == {
        "value": {"sample_time": [0, 1, 2], "value": [3, 4], "status": [5, 6, 7, 8, 9, 10]}
    }


_blocks = st.lists(
    st.builds(
        Block,
        key=st.uuids(),
        register_type=st.sampled_from([H, IN, C]),
        address=st.integers(0, 600),
        count=st.integers(1, 4),
    ),
    max_size=60,
)


@given(blocks=_blocks, max_gap=st.integers(0, 10))
def test_every_block_is_served_by_one_request_within_limits(
    blocks: list[Block], max_gap: int
) -> None:
    requests = plan_reads(blocks, max_gap=max_gap)
    served = [b for r in requests for b in r.blocks]
    assert sorted(map(str, (b.key for b in served))) == sorted(map(str, (b.key for b in blocks)))
    for request in requests:
        assert request.count <= read_limit(request.register_type)
        for block in request.blocks:
            assert block.register_type is request.register_type
            assert request.address <= block.address
            assert block.end <= request.address + request.count
