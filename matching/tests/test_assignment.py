"""The batched dispatch's solver (matching/assignment.py), on its own: numbers in, offers out."""

import math
import random

import pytest

from matching.assignment import assign

INF = math.inf


def test_a_greedy_first_request_would_lengthen_the_second_pickup_and_the_solver_does_not():
    # request 0 is 100 m from driver 0 and 200 m from driver 1; request 1 is 150 m from driver 0 and 5 km from 1
    costs = [[100, 200], [150, 5000]]

    offers = assign(costs, [1, 1])

    assert offers == [[1], [0]]  # 350 m in total, where nearest-first for request 0 would cost 5,100 m


def test_a_rectangular_matrix_with_more_drivers_than_requests_offers_the_cheapest_drivers():
    costs = [[300, 100, 900, 50], [800, 700, 60, 400]]

    offers = assign(costs, [1, 1])

    assert offers == [[3], [2]]


def test_with_more_requests_than_drivers_every_driver_is_given_and_the_rest_of_the_requests_wait():
    costs = [[500, 400], [100, 900], [700, 200]]

    offers = assign(costs, [1, 1, 1])

    assert offers == [[], [0], [1]]


def test_with_a_batch_size_above_one_a_request_gets_its_drivers_nearest_first():
    costs = [[300, 100, 200, 50]]

    offers = assign(costs, [3])

    assert offers == [[3, 1, 2]]


def test_backup_drivers_go_out_only_once_every_request_that_can_have_one_has_its_first():
    # driver 1 is nearest to request 0 as its second choice, but request 1 has nobody else
    costs = [[100, 150], [INF, 900]]

    offers = assign(costs, [3, 3], extra_slot_cost=10_000)

    assert offers == [[0], [1]]


def test_an_impossible_pair_is_never_offered():
    costs = [[INF, 100], [INF, INF]]

    offers = assign(costs, [2, 2])

    assert offers == [[1], []]


def test_a_request_with_no_slots_gets_nobody():
    offers = assign([[100], [200]], [0, 1])

    assert offers == [[], [0]]


def test_no_drivers_at_all_offers_nobody():
    assert assign([[], []], [3, 3]) == [[], []]
    assert assign([], []) == []


@pytest.mark.parametrize("seed", range(25))
def test_a_driver_is_never_given_twice_and_no_request_gets_more_than_its_slots(seed):
    rng = random.Random(seed)
    n_requests, n_drivers = rng.randint(1, 12), rng.randint(1, 12)
    costs = [[rng.choice([INF, rng.uniform(0, 3000)]) for _ in range(n_drivers)] for _ in range(n_requests)]
    slots = [rng.randint(0, 3) for _ in range(n_requests)]

    offers = assign(costs, slots, extra_slot_cost=rng.choice([0, 5000]))

    given = [driver for offer in offers for driver in offer]
    assert len(given) == len(set(given))
    assert all(len(offer) <= slot for offer, slot in zip(offers, slots, strict=True))
    assert all(math.isfinite(costs[request][driver]) for request, offer in enumerate(offers) for driver in offer)
    # as many pairs as possible: no request left short while a driver it could have stays free
    free = set(range(n_drivers)) - set(given)
    assert not any(
        math.isfinite(costs[request][driver]) and len(offer) < slots[request]
        for request, offer in enumerate(offers)
        for driver in free
    )


def test_the_total_pickup_distance_is_the_least_possible():
    costs = [[400, 300, 1000], [350, 900, 200], [100, 250, 600]]

    offers = assign(costs, [1, 1, 1])

    total = sum(costs[request][offer[0]] for request, offer in enumerate(offers))
    assert total == min(
        costs[0][a] + costs[1][b] + costs[2][c]
        for a in range(3)
        for b in range(3)
        for c in range(3)
        if len({a, b, c}) == 3
    )


def test_costs_and_slots_must_describe_the_same_requests():
    with pytest.raises(ValueError):
        assign([[1, 2]], [1, 1])
