"""Travel times, opening years, accessibility and polygons on the toy region; Pingyang data facts."""

import math

import numpy as np
import pytest
from shapely.geometry import Point, box

from geo.accessibility import accessibility_table, gravity, jobs_within, time_circles
from geo.network import Transport, routing_graph, served_nodes, travel_minutes
from geo.polygons import voronoi_partition
from geo.region import Edge, load_region


def test_travel_times_on_toy_graph(toy):
    r = load_region(toy)
    tr = Transport.from_region(r)
    t = tr.township_minutes(2020)
    # A-B local 10 km at 30 km/h = 20 min; A-C via B = 20 + 16 = 36 min
    assert t[0, 1] == pytest.approx(20.0)
    assert t[0, 2] == pytest.approx(36.0)
    assert np.allclose(t, t.T)
    # diagonal: intrazonal time from the polygon area
    area = r.area_km2()["A"]
    assert t[0, 0] == pytest.approx((2 / 3) * math.sqrt(area / math.pi) / 30 * 60)


def test_boarding_time_counts_once_per_boarding(toy):
    tr = Transport.from_region(load_region(toy))
    # A -> S road 2 km at 30 = 4 min; board rail 10 min; S -> X 30 km at 120 = 15 min
    assert tr.minutes(2020, ["A"], ["X"])[0, 0] == pytest.approx(4 + 10 + 15)


def test_link_absent_the_year_before_it_opens(toy):
    r = load_region(toy)
    tr = Transport.from_region(r)
    assert "ac" not in {k for *_, k in tr.graphs(2025)[0].edges(keys=True)}
    assert "ac" in {k for *_, k in tr.graphs(2026)[0].edges(keys=True)}
    assert tr.township_minutes(2025)[0, 2] == pytest.approx(36.0)
    assert tr.township_minutes(2026)[0, 2] == pytest.approx(12.0)  # 16 km at 80 km/h


def test_closing_year_excluded():
    e = Edge.model_validate({"id": "x", "from": "a", "to": "b", "mode": "local", "length_km": 1, "speed_kmh": 10,
                             "open_year": 2000, "close_year": 2010})
    assert e.is_open(2000) and e.is_open(2009) and not e.is_open(2010) and not e.is_open(1999)


def test_accessibility_rises_when_a_link_is_added(toy):
    r = load_region(toy)
    jobs = np.array([r.economy[c].jobs for c in r.codes])
    before = Transport.from_region(r)
    other = before.with_edges([e.opened(2020) for e in r.projects if e.key == "cx"])  # C -- X: does not touch A-B-C times
    assert np.array_equal(other.township_minutes(2020), before.township_minutes(2020))
    fast = Edge.model_validate({"id": "bc_fast", "from": "B", "to": "C", "mode": "trunk", "length_km": 8,
                                "speed_kmh": 80, "open_year": 2020})
    after = before.with_edges([fast])
    a0 = accessibility_table(before.township_minutes(2020), jobs, r.codes, [15], 0.05)
    a1 = accessibility_table(after.township_minutes(2020), jobs, r.codes, [15], 0.05)
    assert a1.loc["C", "gravity"] > a0.loc["C", "gravity"]
    assert a1.loc["C", "jobs_15min"] > a0.loc["C", "jobs_15min"]
    assert a1.loc["A", "gravity"] >= a0.loc["A", "gravity"]


def test_accessibility_functions():
    t = np.array([[0.0, 10.0, np.inf], [10.0, 0.0, 40.0], [np.inf, 40.0, 0.0]])
    jobs = np.array([100, 50, 10])
    assert jobs_within(t, jobs, 15).tolist() == [150.0, 150.0, 10.0]
    g = gravity(t, jobs, 0.1)
    assert g[0] == pytest.approx(100 + 50 * math.exp(-1))
    assert gravity(t, jobs, 0.0)[0] == pytest.approx(150)  # unreachable still excluded


def test_train_cannot_be_boarded_without_station_access():
    import networkx as nx

    g = nx.MultiGraph()
    g.add_edge("W", "P", key="hsr1", mode="hsr", minutes=10.0)
    g.add_edge("W", "town", key="r", mode="local", minutes=5.0)
    assert served_nodes(g, ["hsr"], boarded=["hsr"]) == ["W"]
    rg = routing_graph(g, {"hsr": 15})
    assert travel_minutes(rg, ["town"], ["P"])[0, 0] == pytest.approx(5 + 15 + 10)


def test_time_circles(toy):
    r = load_region(toy)
    tc = time_circles(r, Transport.from_region(r), 2020).set_index("code")
    assert tc.loc["A", "met"] and tc.loc["B", "met"] and not tc.loc["C", "met"]  # C is 36 min away in 2020
    tc26 = time_circles(r, Transport.from_region(r), 2026).set_index("code")
    assert tc26.loc["C", "met"]


def test_voronoi_covers_outline_without_gaps_or_overlaps():
    outline = box(0, 0, 10, 6).union(box(20, 0, 21, 1))  # mainland + island
    seats = {"a": Point(2, 3), "b": Point(5, 1), "c": Point(8, 4)}
    cells = voronoi_partition(outline, seats)
    total = sum(c.area for c in cells.values())
    assert total == pytest.approx(outline.area)
    geoms = list(cells.values())
    for i in range(len(geoms)):
        for j in range(i + 1, len(geoms)):
            assert geoms[i].intersection(geoms[j]).area == pytest.approx(0, abs=1e-9)
    # the island goes whole to the nearest seat
    assert cells["c"].contains(Point(20.5, 0.5))
    for code, p in seats.items():
        assert cells[code].contains(p)


def test_pingyang_polygons_partition_the_outline(pingyang):
    polys = pingyang.polygons
    outline = pingyang.outline.union_all()
    assert polys.area.sum() == pytest.approx(outline.area, rel=1e-6)
    assert polys.union_all().symmetric_difference(outline).area < 1e-6 * outline.area
    overlap = sum(polys.geometry.iloc[i].intersection(polys.geometry.iloc[j]).area
                  for i in range(len(polys)) for j in range(i + 1, len(polys)))
    assert overlap < 1e-6 * outline.area
