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


def shortest_lengths(rg: nx.DiGraph, origin: str) -> dict[str, float]:
    """Shortest travel minutes from ``origin`` to every node it reaches (empty if ``origin`` is not in the graph).

    >>> g = nx.DiGraph(); g.add_edge("a", "b", minutes=5.0)
    >>> shortest_lengths(g, "a"), shortest_lengths(g, "z")
    ({'a': 0, 'b': 5.0}, {})
    """
    return nx.single_source_dijkstra_path_length(rg, origin, weight="minutes") if origin in rg else {}


def minutes_table(lengths: Sequence[Mapping[str, float]], destinations: Sequence[str]) -> np.ndarray:
    """(origins, destinations) minutes from each origin's :func:`shortest_lengths`; ``inf`` where unreachable.

    >>> minutes_table([{"a": 0.0, "b": 5.0}, {}], ["b", "a"]).tolist()
    [[5.0, 0.0], [inf, inf]]
    """
    out = np.full((len(lengths), len(destinations)), np.inf)
    for i, row in enumerate(lengths):
        out[i] = [row.get(d, np.inf) for d in destinations]
    return out


def travel_minutes(rg: nx.DiGraph, origins: Sequence[str], destinations: Sequence[str]) -> np.ndarray:
    """Shortest travel times (minutes) from each origin to each destination; ``inf`` where unreachable.

    Example
    -------
    >>> g = nx.DiGraph(); g.add_edge("a", "b", minutes=5.0)
    >>> travel_minutes(g, ["a"], ["a", "b"]).tolist()
    [[0.0, 5.0]]
    """
    return minutes_table([shortest_lengths(rg, o) for o in origins], destinations)


def served_nodes(net: nx.MultiGraph, modes: Iterable[str], boarded: Iterable[str] = ()) -> list[str]:
    """Nodes where a traveller can get on one of ``modes``.

    A node on a road of one of ``modes`` qualifies; a node on a boarded mode (``boarded``:
    rail, ferry, ...) qualifies only if some unboarded link reaches it, so a line passing a
    place with no station access does not count.

    Example
    -------
    >>> g = nx.MultiGraph(); _ = g.add_edge("s", "t", mode="hsr"); _ = g.add_edge("s", "town", mode="local")
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
                 boarding_minutes: Mapping[str, float], intrazonal: Sequence[float],
                 bus: tuple[float, float] | None = None):
        self.bus = bus  # (speed factor, boarding minutes) for travel without a car; None = car only
        self.nodes = dict(nodes)
        self.edges = list(edges)
        self.codes = list(seats)
        self.seat_nodes = [seats[c] for c in self.codes]
        self.boarding = dict(boarding_minutes)
        self.intrazonal = np.asarray(intrazonal, dtype=float)
        # Graphs and travel times depend only on which links are open, which changes in few years:
        # caches are keyed by that set, so unchanged years cost no shortest-path search.
        self._cache: dict[bytes, tuple[nx.MultiGraph, nx.DiGraph]] = {}
        self._transit_cache: dict[bytes, nx.DiGraph] = {}
        self._minutes_cache: dict[tuple, np.ndarray] = {}
        self._lengths_cache: dict[tuple, dict[str, float]] = {}
        self._signatures: dict[int, bytes] = {}

    @classmethod
    def from_region(cls, region, extra_edges: Iterable[Edge] = (), closures: Mapping[str, int] | None = None,
                    extra_nodes: Iterable[Node] = ()) -> "Transport":
        """The region's network plus ``extra_edges`` and ``extra_nodes``; ``closures`` maps a link id
        to the year it closes (the earlier of that and its own closing year)."""
        from geo.region import intrazonal_minutes

        routing = region.config.routing
        speed = routing.intrazonal_speed_kmh.value
        area = region.area_km2()
        intra = [intrazonal_minutes(float(area[c]), speed) for c in region.codes]
        seats = {c: region.seat_node(c) for c in region.codes}
        boarding = {m: s.value for m, s in routing.boarding_minutes.items()}
        closures = closures or {}
        edges = [e if e.id not in closures else e.model_copy(update={"close_year": min(closures[e.id], e.close_year or closures[e.id])})
                 for e in region.edges]
        nodes = {**region.nodes, **{n.id: n for n in extra_nodes}}
        t = routing.transit
        bus = None if t is None else (t.bus_speed_factor.value, t.bus_boarding_minutes.value)
        return cls(nodes, [*edges, *extra_edges], seats, boarding, intra, bus)

    def with_edges(self, extra: Iterable[Edge]) -> "Transport":
        """A copy with more links (for scenarios); the original is unchanged."""
        return Transport(self.nodes, [*self.edges, *extra], dict(zip(self.codes, self.seat_nodes)), self.boarding,
                         self.intrazonal, self.bus)

    def signature(self, year: int) -> bytes:
        """Which links are open in ``year`` (equal for two years exactly when their networks are equal)."""
        if year not in self._signatures:
            self._signatures[year] = np.packbits([e.is_open(year) for e in self.edges]).tobytes()
        return self._signatures[year]

    def graphs(self, year: int) -> tuple[nx.MultiGraph, nx.DiGraph]:
        """The physical and routing graphs of ``year`` (cached)."""
        key = self.signature(year)
        if key not in self._cache:
            net = network_for_year(self.nodes, self.edges, year)
            self._cache[key] = (net, routing_graph(net, self.boarding))
        return self._cache[key]

    def transit_graph(self, year: int) -> nx.DiGraph:
        """Routing graph for travel without a car: every road is a bus line (slower, boarded), rail as usual."""
        if self.bus is None:
            raise ValueError("this network has no transit settings (region.yaml routing.transit)")
        key = self.signature(year)
        if key not in self._transit_cache:
            factor, wait = self.bus
            net = nx.MultiGraph()
            net.add_nodes_from(self.graphs(year)[0].nodes(data=True))
            for u, v, k, d in self.graphs(year)[0].edges(keys=True, data=True):
                if d["mode"] in self.boarding:
                    net.add_edge(u, v, key=k, **d)
                else:
                    net.add_edge(u, v, key=k, **{**d, "mode": "bus", "minutes": d["minutes"] / factor})
            self._transit_cache[key] = routing_graph(net, {**self.boarding, "bus": wait})
        return self._transit_cache[key]

    def minutes(self, year: int, origins: Sequence[str], destinations: Sequence[str], transit: bool = False) -> np.ndarray:
        """Node-to-node travel minutes in ``year``, by the fastest mode or (``transit``) without a car."""
        key = (self.signature(year), transit, tuple(origins), tuple(destinations))
        if key not in self._minutes_cache:
            self._minutes_cache[key] = minutes_table([self._lengths(year, transit, o) for o in origins], destinations)
        return self._minutes_cache[key].copy()

    def _lengths(self, year: int, transit: bool, origin: str) -> dict[str, float]:
        """Shortest minutes from ``origin`` to every node it reaches (one search per origin and network state, shared
        by every set of destinations: township seats, labour-zone centres and stations)."""
        key = (self.signature(year), transit, origin)
        if key not in self._lengths_cache:
            rg = self.transit_graph(year) if transit else self.graphs(year)[1]
            self._lengths_cache[key] = shortest_lengths(rg, origin)
        return self._lengths_cache[key]

    def township_minutes(self, year: int, transit: bool = False) -> np.ndarray:
        """Township-by-township minutes (seat to seat; intrazonal time on the diagonal)."""
        t = self.minutes(year, self.seat_nodes, self.seat_nodes, transit)
        np.fill_diagonal(t, self.intrazonal / (self.bus[0] if transit else 1.0))
        return t
