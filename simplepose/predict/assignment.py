"""Optimal assignment (the linear sum assignment problem): the Hungarian method with potentials.

Which rows go with which columns of a cost matrix so that the summed cost of the pairs is least, each row and
column used at most once and ``min(rows, columns)`` pairs made. The shortest-augmenting-path form of Kuhn and
Munkres' method (as Jonker and Volgenant organise it): one row added at a time, O(n^2 m) for n <= m, the
inner step vectorised over the columns. Gives the same total cost as SciPy's ``linear_sum_assignment``; written
here because the ``[deploy]`` install has no SciPy, and the tracker's matrices are small (people x tracks).

NumPy only.
"""
from __future__ import annotations

import numpy as np


def linear_assignment(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pairs of least total cost of an (N, M) matrix.

    Args:
        cost: (N, M) finite floats (any sign).
    Returns:
        (rows, cols): (min(N, M),) int64 each, rows increasing; ``cost[rows, cols].sum()`` is the least possible.
    Raises:
        ValueError: a matrix that is not 2-D or holds NaN or infinity.
    """
    cost = np.asarray(cost, np.float64)
    if cost.ndim != 2:
        raise ValueError(f"linear_assignment: a 2-D cost matrix, got shape {cost.shape}")
    if not np.isfinite(cost).all():
        raise ValueError("linear_assignment: the cost matrix holds NaN or infinity")
    n, m = cost.shape
    if n == 0 or m == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if n > m:   # the method adds rows to a matching; each must find a column
        cols, rows = linear_assignment(cost.T)
        order = np.argsort(rows)
        return rows[order], cols[order]
    # Columns 1..m; column 0 is a virtual start. owner[j]: the row (1-based) matched to column j, 0 for none.
    u, v = np.zeros(n + 1), np.zeros(m + 1)
    owner = np.zeros(m + 1, np.int64)
    came_from = np.zeros(m + 1, np.int64)
    for row in range(1, n + 1):
        owner[0], col = row, 0
        reach = np.full(m + 1, np.inf)     # least reduced cost to reach each column so far
        done = np.zeros(m + 1, bool)
        while owner[col] != 0:
            done[col] = True
            r = owner[col]
            reduced = cost[r - 1] - u[r] - v[1:]
            better = ~done[1:] & (reduced < reach[1:])
            reach[1:][better] = reduced[better]
            came_from[1:][better] = col
            open_reach = np.where(done[1:], np.inf, reach[1:])
            nxt = int(np.argmin(open_reach)) + 1
            delta = open_reach[nxt - 1]
            # Shift the potentials so that the tree's edges stay tight and the new column's edge becomes so.
            u[owner[done]] += delta
            v[done] -= delta
            reach[1:][~done[1:]] -= delta
            col = nxt
        while col != 0:   # augment along the path back to the virtual column
            prev = came_from[col]
            owner[col] = owner[prev]
            col = prev
    cols = np.flatnonzero(owner[1:]).astype(np.int64)
    rows = owner[1:][cols] - 1
    order = np.argsort(rows)
    return rows[order].astype(np.int64), cols[order]
