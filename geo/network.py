"""The transport network of a given year and the travel times it gives.

Edges carry a mode, length, speed and opening/closing years. For routing, every stop of a
boarded mode (rail, high-speed rail, metro-rail, ferry) is split into a street node and a
platform node; going from street to platform costs the mode's boarding time (access and
waiting), coming back costs nothing. Shortest paths on that directed graph therefore
include access and transfer times, and a train passing a node with no road access cannot
be boarded there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import networkx as nx
import numpy as np

from geo.region import Edge, Node


def network_for_year(nodes: Mapping[str, Node], edges: Iterable[Edge], year: int) -> nx.MultiGraph:
    """The physical network open in ``year`` (one graph edge per open link, keyed by edge id).

    Parameters
    ----------
    nodes : node id -> Node (coordinates and kind become node attributes).
    edges : links; those with ``open_year <= year < close_year`` are kept.
    year : the year.

    Returns
    -------
    networkx.MultiGraph; edge attributes: mode, length_km, speed_kmh, minutes, project, open_year.

    Example
    -------
    >>> g = network_for_year(region.nodes, region.edges, 2030)   # doctest: +SKIP
    >>> g.number_of_edges() > 0                                  # doctest: +SKIP
    True
    """
    g = nx.MultiGraph(year=year)
    for e in edges:
        if not e.is_open(year):
            continue
        for n in (e.u, e.v):
            if n not in g:
                node = nodes[n]
                g.add_node(n, name=node.name, kind=node.kind, lon=node.lon, lat=node.lat, township=node.township)
        g.add_edge(e.u, e.v, key=e.id, mode=e.mode, length_km=e.length_km, speed_kmh=e.speed_kmh,
                   minutes=e.minutes, project=e.project, open_year=e.open_year)
    return g


def routing_graph(net: nx.MultiGraph, boarding_minutes: Mapping[str, float]) -> nx.DiGraph:
    """A directed graph for shortest paths, weight ``minutes``, with platform nodes for boarded modes.

    Platform nodes are tuples ``(node, mode)``; street nodes keep their ids.

    Example
    -------
    >>> rg = routing_graph(network_for_year(nodes, edges, 2030), {"rail": 20})   # doctest: +SKIP
    """
    rg = nx.DiGraph()
    rg.add_nodes_from(net.nodes)

    def link(a, b, minutes: float) -> None:
        # Parallel links (an old road beside a new one) collapse to the fastest.
        if not rg.has_edge(a, b) or rg[a][b]["minutes"] > minutes:
            rg.add_edge(a, b, minutes=minutes)

    for u, v, data in net.edges(data=True):
        mode, minutes = data["mode"], data["minutes"]
        if mode in boarding_minutes:
            pu, pv = (u, mode), (v, mode)
            for street, platform in ((u, pu), (v, pv)):
                link(street, platform, float(boarding_minutes[mode]))
                link(platform, street, 0.0)
            link(pu, pv, minutes)
            link(pv, pu, minutes)
        else:
            link(u, v, minutes)
            link(v, u, minutes)
    return rg


def travel_minutes(rg: nx.DiGraph, origins: Sequence[str], destinations: Sequence[str]) -> np.ndarray:
    """Shortest travel times (minutes) from each origin to each destination; ``inf`` where unreachable.

    Example
    -------
    >>> g = nx.DiGraph(); g.add_edge("a", "b", minutes=5.0)
    >>> travel_minutes(g, ["a"], ["a", "b"]).tolist()
    [[0.0, 5.0]]
    """
    out = np.full((len(origins), len(destinations)), np.inf)
    col = {d: j for j, d in enumerate(destinations)}
    for i, o in enumerate(origins):
        if o not in rg:
            continue
        for node, t in nx.single_source_dijkstra_path_length(rg, o, weight="minutes").items():
            j = col.get(node)
            if j is not None:
                out[i, j] = t
    return out


def served_nodes(net: nx.MultiGraph, modes: Iterable[str], boarded: Iterable[str] = ()) -> list[str]:
    """Nodes where a traveller can get on one of ``modes``.

    A node on a road of one of ``modes`` qualifies; a node on a boarded mode (``boarded``:
    rail, ferry, ...) qualifies only if some unboarded link reaches it, so a line passing a
    place with no station access does not count.

    Example
    -------
    >>> g = nx.MultiGraph(); g.add_edge("s", "t", mode="hsr"); g.add_edge("s", "town", mode="local")
    >>> served_nodes(g, ["hsr"], boarded=["hsr"])
    ['s']
    """
    modes, boarded = set(modes), set(boarded)
    out = []
    for n in net.nodes:
        own = {d["mode"] for _, _, d in net.edges(n, data=True)}
        hit = own & modes
        if hit and (hit - boarded or own - boarded):
            out.append(n)
    return sorted(out, key=str)


class Transport:
    """Travel times between a region's townships, year by year, with optional extra links.

    Parameters
    ----------
    nodes, edges : the network (``Region.nodes``, ``Region.edges``).
    seats : township code -> seat node id, in the order the matrices use.
    boarding_minutes : mode -> boarding time, for the boarded modes.
    intrazonal : minutes for a trip inside each township (the matrix diagonal), same order as ``seats``.

    Example
    -------
    >>> tr = Transport.from_region(region)                     # doctest: +SKIP
    >>> tr.township_minutes(2030).shape                        # doctest: +SKIP
    (16, 16)
    """

    def __init__(self, nodes: Mapping[str, Node], edges: Iterable[Edge], seats: Mapping[str, str],
                 boarding_minutes: Mapping[str, float], intrazonal: Sequence[float]):
        self.nodes = dict(nodes)
        self.edges = list(edges)
        self.codes = list(seats)
        self.seat_nodes = [seats[c] for c in self.codes]
        self.boarding = dict(boarding_minutes)
        self.intrazonal = np.asarray(intrazonal, dtype=float)
        self._cache: dict[int, tuple[nx.MultiGraph, nx.DiGraph]] = {}

    @classmethod
    def from_region(cls, region, extra_edges: Iterable[Edge] = ()) -> "Transport":
        from geo.region import intrazonal_minutes

        routing = region.config.routing
        speed = routing.intrazonal_speed_kmh.value
        area = region.area_km2()
        intra = [intrazonal_minutes(float(area[c]), speed) for c in region.codes]
        seats = {c: region.seat_node(c) for c in region.codes}
        boarding = {m: s.value for m, s in routing.boarding_minutes.items()}
        return cls(region.nodes, [*region.edges, *extra_edges], seats, boarding, intra)

    def with_edges(self, extra: Iterable[Edge]) -> "Transport":
        """A copy with more links (for scenarios); the original is unchanged."""
        return Transport(self.nodes, [*self.edges, *extra], dict(zip(self.codes, self.seat_nodes)), self.boarding, self.intrazonal)

    def graphs(self, year: int) -> tuple[nx.MultiGraph, nx.DiGraph]:
        """The physical and routing graphs of ``year`` (cached)."""
        if year not in self._cache:
            net = network_for_year(self.nodes, self.edges, year)
            self._cache[year] = (net, routing_graph(net, self.boarding))
        return self._cache[year]

    def minutes(self, year: int, origins: Sequence[str], destinations: Sequence[str]) -> np.ndarray:
        """Node-to-node travel minutes in ``year``."""
        return travel_minutes(self.graphs(year)[1], origins, destinations)

    def township_minutes(self, year: int) -> np.ndarray:
        """Township-by-township minutes (seat to seat; intrazonal time on the diagonal)."""
        t = self.minutes(year, self.seat_nodes, self.seat_nodes)
        np.fill_diagonal(t, self.intrazonal)
        return t
