"""The batched dispatch's solver: which drivers each request of a window is offered, all requests at once.

Pure: numbers in, indices out (no database, no Redis, no settings), so it is tested on its own. The rows of the cost
matrix are requests, the columns candidate drivers; a pair a request may not have (driver outside its radius, or
already tried) is `math.inf`. Each request gets up to its number of slots of distinct drivers and each driver at most
one request: a rectangular assignment over the request rows replicated once per slot
(`scipy.optimize.linear_sum_assignment`). A request's second and later slots cost `extra_slot_cost` more, so a driver
is given to a request as a backup only when no request that has none could take them.
"""

from collections.abc import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

# Stands in for an impossible pair: larger than any sum of real costs, so the solver takes as many possible pairs as
# it can before it ever pays this; pairs that still end up at this cost are dropped from the answer.
_IMPOSSIBLE = 1e12


def assign(costs: Sequence[Sequence[float]], slots: Sequence[int], *, extra_slot_cost: float = 0.0) -> list[list[int]]:
    """For each request (row of `costs`), the columns (drivers) it is offered, cheapest first: at most `slots[i]`
    for request i, no column twice in the whole answer, no impossible (infinite) pair. Minimises the total cost,
    first slots before second ones."""
    matrix = np.asarray(costs, dtype=float)
    n_requests = len(slots)
    if matrix.size == 0 or n_requests == 0:
        return [[] for _ in range(n_requests)]
    if matrix.shape[0] != n_requests:
        raise ValueError(f"{matrix.shape[0]} cost rows for {n_requests} requests")
    owners, ranks = _replicated_rows(slots)
    if not owners:
        return [[] for _ in range(n_requests)]
    expanded = matrix[owners] + np.asarray(ranks, dtype=float)[:, None] * extra_slot_cost
    possible = np.isfinite(expanded)
    expanded = np.where(possible, expanded, _IMPOSSIBLE)
    rows, columns = linear_sum_assignment(expanded)
    offered: list[list[tuple[float, int]]] = [[] for _ in range(n_requests)]
    for row, column in zip(rows, columns, strict=True):
        if possible[row, column]:
            offered[owners[row]].append((float(matrix[owners[row], column]), int(column)))
    return [[column for _, column in sorted(pairs)] for pairs in offered]


def _replicated_rows(slots: Sequence[int]) -> tuple[list[int], list[int]]:
    """One row per slot: (the request it belongs to, the slot's rank 0, 1, …)."""
    owners: list[int] = []
    ranks: list[int] = []
    for request, count in enumerate(slots):
        if count < 0:
            raise ValueError(f"request {request} has {count} slots")
        owners += [request] * count
        ranks += list(range(count))
    return owners, ranks
