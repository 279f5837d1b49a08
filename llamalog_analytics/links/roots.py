"""Roots and loops over numbered nodes (job runs): pointer jumping to each node's top, and the
loops among parent links."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np


def parent_loops(links: Iterable[tuple[Any, Any]]) -> list[set[Any]]:
    """The loops among (child, parent) links: sets of instances (or jobs) that are their own ancestors.

    Links that cannot be on a loop (out of a node nothing points at, into a node that points
    nowhere) are trimmed first, so networkx only sees what is left, usually nothing.

    Examples:
        >>> links = [("a", "b"), ("b", "a"), ("c", "a"), ("d", "d"), ("e", None)]
        >>> [sorted(nodes) for nodes in parent_loops(links)]
        [['a', 'b'], ['d']]
    """
    edges = {(a, b) for a, b in links if a is not None and b is not None}
    while True:
        children, parents = {a for a, _ in edges}, {b for _, b in edges}
        kept = {(a, b) for a, b in edges if a in parents and b in children}
        if kept == edges:
            break
        edges = kept
    if not edges:
        return []
    import networkx as nx

    graph = nx.DiGraph(sorted(edges))
    loops = nx.strongly_connected_components(graph)
    return sorted(
        (nodes for nodes in loops if len(nodes) > 1 or any(graph.has_edge(n, n) for n in nodes)), key=sorted
    )


def loop_numbers(child: np.ndarray, parent: np.ndarray, size: int) -> np.ndarray:
    """For ``size`` numbered nodes and (child, parent) links: each node's loop number, -1 off loops.

    Links are trimmed with whole-array passes before :func:`parent_loops` sees the rest.

    Examples:
        >>> loop_numbers(np.array([0, 1, 2, 3]), np.array([1, 0, 0, 3]), 5).tolist()
        [0, 0, -1, 1, -1]
    """
    keep = (child >= 0) & (parent >= 0)
    child, parent = child[keep], parent[keep]
    while child.size:
        kept = np.isin(child, parent) & np.isin(parent, child)
        if kept.all():
            break
        child, parent = child[kept], parent[kept]
    numbers = np.full(size, -1, dtype=np.int64)
    pairs = set(zip(child.tolist(), parent.tolist(), strict=True))
    for number, nodes in enumerate(parent_loops(pairs)):
        numbers[list(nodes)] = number
    return numbers


def on_loop(child: np.ndarray, parent: np.ndarray, size: int) -> np.ndarray:
    """Whether each (child, parent) link of :func:`loop_numbers` lies on a loop: both its ends
    on the same one (-1: no node).

    Examples:
        >>> on_loop(np.array([0, 1, 2, 3]), np.array([1, 0, 0, -1]), 4).tolist()
        [True, True, False, False]
    """
    loop = np.append(loop_numbers(child, parent, size), -1)  # index -1 reads "no loop"
    return (loop[child] >= 0) & (loop[child] == loop[parent])


def tops(parent: np.ndarray) -> np.ndarray:
    """Each node's top ancestor by pointer jumping over ``parent`` (-1: no parent); -1 on or below a loop.

    Each round doubles how far every node has looked, so a tree of depth d takes log2(d) rounds.

    Examples:
        >>> tops(np.array([-1, 0, 1, 4, 3])).tolist()
        [0, 0, 0, -1, -1]
    """
    nodes = np.arange(len(parent))
    up = np.where(parent >= 0, parent, nodes)
    for _ in range(max(1, int(np.ceil(np.log2(max(len(up), 2)))) + 1)):
        further = up[up]
        if np.array_equal(further, up):
            break
        up = further
    settled = parent[up] < 0  # reached a node without a parent; loops never do
    return np.where(settled, up, -1)
