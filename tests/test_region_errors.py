"""Every kind of bad region input gets one clear error naming the file, line or field."""

import geopandas as gpd
import pandas as pd
import pytest
import yaml
from shapely.geometry import Polygon, box

from geo.region import RegionDataError, load_region
from toy import edit_csv


def error_of(folder) -> RegionDataError:
    with pytest.raises(RegionDataError) as info:
        load_region(folder)
    return info.value


def test_toy_region_is_valid(toy):
    r = load_region(toy)
    assert r.codes == ["A", "B", "C"] and r.total_population(2020) == 10500


def test_missing_file(toy):
    (toy / "economy.csv").unlink()
    e = error_of(toy)
    assert e.file.endswith("economy.csv") and "file not found" in str(e)


def test_missing_region_folder(tmp_path):
    e = error_of(tmp_path / "nowhere")
    assert "region folder not found" in str(e)


def test_missing_column(toy):
    edit_csv(toy / "townships.csv", lambda df: df.drop(columns=["pop_2020"]))
    e = error_of(toy)
    assert e.file.endswith("townships.csv") and "missing column(s) pop_2020" in str(e)


def test_duplicate_township_code(toy):
    edit_csv(toy / "townships.csv", lambda df: df.assign(code=["A", "B", "A"]))
    e = error_of(toy)
    assert e.line == 4 and e.field == "code" and "duplicate code 'A' (first on line 2)" in str(e)


def test_a_node_far_from_its_township_is_refused(toy):
    """A seat's latitude mistyped by a degree put it 111 km away, and nothing noticed (the travel times come from the
    edges' lengths); the maps and new links' lengths would have used it."""
    def f(df):
        df.loc[df.id == "S", "lat"] = str(float(df.loc[df.id == "S", "lat"].iloc[0]) + 1.0)
    edit_csv(toy / "nodes.csv", f)
    e = error_of(toy)
    assert e.file.endswith("nodes.csv") and e.field == "lat" and "node 'S' of township A lies 102.1 km" in str(e), str(e)
    assert e.line == list(pd.read_csv(toy / "nodes.csv").id).index("S") + 2


def test_a_seat_far_from_its_township_is_refused(toy):
    edit_csv(toy / "townships.csv", lambda df: df.assign(lon=[str(float(v) + (1.0 if c == "B" else 0.0)) for c, v in zip(df.code, df.lon)]))
    e = error_of(toy)
    assert e.file.endswith("townships.csv") and e.line == 3 and "the seat of B lies" in str(e), str(e)


@pytest.mark.parametrize("table, link, length, needle", [
    ("edges.csv", "sx", "3.0", "length_km 3 for a link whose nodes S and X are 31.0 km apart"),
    ("edges.csv", "sx", "300", "(expected 6.7 to 164.8 km"),
    ("projects.csv", "cx", "4", "length_km 4 for a link whose nodes C and X"),
], ids=["decimal-dropped-in", "decimal-dropped-out", "project"])
def test_a_link_length_far_from_its_straight_line_is_refused(toy, table, link, length, needle):
    """A length typed 3.0 for 30 makes a rail line ten times faster; nothing compared lengths with the nodes."""
    def f(df):
        df.loc[df.id == link, "length_km"] = length
    edit_csv(toy / table, f)
    e = error_of(toy)
    assert e.file.endswith(table) and e.field == "length_km" and needle in str(e), str(e)


def test_a_link_faster_than_its_mode_is_refused(toy):
    def f(df):
        df.loc[df.id == "ab", "speed_kmh"] = "300"
    edit_csv(toy / "edges.csv", f)
    e = error_of(toy)
    assert e.file.endswith("edges.csv") and "a local link at 300 km/h is faster than any link of its mode runs" in str(e)


def test_unknown_township_in_network(toy):
    def f(df):
        df.loc[df.id == "S", "township"] = "Q"
    edit_csv(toy / "nodes.csv", f)
    e = error_of(toy)
    assert e.file.endswith("nodes.csv") and e.field == "township" and "'Q'" in str(e)


def test_unknown_node_in_edges(toy):
    def f(df):
        df.loc[df.id == "bc", "to"] = "ZZ"
    edit_csv(toy / "edges.csv", f)
    e = error_of(toy)
    assert e.file.endswith("edges.csv") and e.line == 3 and e.field == "to" and "unknown node 'ZZ'" in str(e)


@pytest.mark.parametrize("column,value,expect", [
    ("pop_2020", "many", "valid integer"),
    ("pop_2020", "-5", "greater than or equal to 0"),
    ("pop_2020", "99999999999999999999", "less than or equal to 1000000000"),  # would overflow the model's counts
])
def test_bad_population(toy, column, value, expect):
    def f(df):
        df.loc[1, column] = value
    edit_csv(toy / "townships.csv", f)
    e = error_of(toy)
    assert e.line == 3 and e.field == column and expect in str(e) and repr(value) in str(e)


@pytest.mark.parametrize("column,value", [("length_km", "-3"), ("length_km", "far"), ("speed_kmh", "0"), ("speed_kmh", "fast"),
                                          ("length_km", "inf"), ("speed_kmh", "nan")])
def test_bad_length_or_speed(toy, column, value):
    def f(df):
        df.loc[0, column] = value
    edit_csv(toy / "edges.csv", f)
    e = error_of(toy)
    assert e.file.endswith("edges.csv") and e.line == 2 and e.field == column
    if value in ("inf", "nan"):  # passes every range check, so it is refused as not a finite number
        assert "finite number" in str(e)


def test_open_after_close(toy):
    def f(df):
        df.loc[0, "close_year"] = "1980"
    edit_csv(toy / "edges.csv", f)
    e = error_of(toy)
    assert e.line == 2 and "open_year 1990 is after close_year 1980" in str(e)


def _rewrite_polygons(toy, change):
    g = gpd.read_file(toy / "townships.gpkg")
    g = change(g)
    (toy / "townships.gpkg").unlink()
    g.to_file(toy / "townships.gpkg", driver="GPKG")


def test_invalid_polygon(toy):
    bowtie = Polygon([(119.95, 30.0), (120.0, 30.05), (120.0, 30.0), (119.95, 30.05)])
    _rewrite_polygons(toy, lambda g: g.set_geometry(g.geometry.where(g.code != "A", bowtie)))
    e = error_of(toy)
    assert e.file.endswith("townships.gpkg") and "code A" in str(e) and "invalid polygon" in str(e)


def test_empty_polygon(toy):
    _rewrite_polygons(toy, lambda g: g.set_geometry(g.geometry.where(g.code != "B", Polygon())))
    e = error_of(toy)
    assert "code B" in str(e) and "empty geometry" in str(e)


def test_polygon_outside_county(toy):
    far = box(121.0, 31.0, 121.1, 31.1)
    _rewrite_polygons(toy, lambda g: g.set_geometry(g.geometry.where(g.code != "C", far)))
    e = error_of(toy)
    assert "township C" in str(e) and "outside the county outline" in str(e)


def test_polygon_with_longitude_and_latitude_swapped(toy):
    """Found by fuzzing the polygons: a latitude of 120 projected to NaN, every area check passed and the run went on
    with a township of no area."""
    from shapely import affinity

    _rewrite_polygons(toy, lambda g: g.set_geometry(
        [affinity.affine_transform(geom, [0, 1, 1, 0, 0, 0]) if code == "B" else geom for code, geom in zip(g.code, g.geometry)],
        crs=g.crs))
    e = error_of(toy)
    assert e.file.endswith("townships.gpkg") and "feature 2" in str(e) and "are longitude and latitude swapped?" in str(e)


@pytest.mark.filterwarnings("ignore:'crs' was not provided")  # the file is written without a CRS on purpose
def test_polygons_without_crs(toy):
    g = gpd.read_file(toy / "townships.gpkg")
    (toy / "townships.gpkg").unlink()
    g.set_crs(None, allow_override=True).to_file(toy / "townships.gpkg", driver="GPKG")
    e = error_of(toy)
    assert "no coordinate reference system" in str(e)


def test_wrong_crs_in_config(toy):
    cfg = yaml.safe_load((toy / "region.yaml").read_text())
    cfg["crs"]["metric"] = "EPSG:4326"
    (toy / "region.yaml").write_text(yaml.safe_dump(cfg))
    e = error_of(toy)
    assert e.field == "crs.metric" and "not a projected CRS" in str(e)


def test_unknown_crs_in_config(toy):
    cfg = yaml.safe_load((toy / "region.yaml").read_text())
    cfg["crs"]["input"] = "EPSG:99999999"
    (toy / "region.yaml").write_text(yaml.safe_dump(cfg))
    e = error_of(toy)
    assert e.field == "crs.input" and "unknown coordinate reference system" in str(e)


def test_township_without_polygon(toy):
    _rewrite_polygons(toy, lambda g: g[g.code != "C"])
    e = error_of(toy)
    assert "no polygon for township(s) C" in str(e)


def test_polygon_without_township(toy):
    import pandas as pd

    _rewrite_polygons(toy, lambda g: pd.concat([g, g[g.code == "C"].assign(code="Z")], ignore_index=True))
    e = error_of(toy)
    assert "unknown township code(s) Z" in str(e)


def test_disconnected_network(toy):
    edit_csv(toy / "edges.csv", lambda df: df[~df.id.isin(["bc", "ac"])])
    edit_csv(toy / "projects.csv", lambda df: df[df.replaces != "bc"])
    e = error_of(toy)
    # C is reachable only over planned projects: a seat needs a baseline route
    assert e.file.endswith("edges.csv") and "seat(s) of C" in str(e) and "baseline" in str(e)


def test_stray_node_even_with_projects(toy):
    edit_csv(toy / "nodes.csv", lambda df: df._append({"id": "Z", "name": "Nowhere", "kind": "junction", "lat": "30.0",
                                                        "lon": "120.0", "township": "A"}, ignore_index=True))
    e = error_of(toy)
    assert e.file.endswith("edges.csv") and "disconnected" in str(e) and "Z" in str(e)


def test_malformed_yaml(toy):
    (toy / "region.yaml").write_text("name: Toy\ncrs: {input: EPSG:4326, metric: [\n", encoding="utf-8")
    e = error_of(toy)
    assert e.file.endswith("region.yaml") and "malformed YAML" in str(e) and e.line is not None


def test_yaml_field_error_names_field(toy):
    cfg = yaml.safe_load((toy / "region.yaml").read_text())
    cfg["targets"]["primacy"]["kind"] = "most"
    (toy / "region.yaml").write_text(yaml.safe_dump(cfg))
    e = error_of(toy)
    assert e.field == "targets.primacy.kind"


def test_a_share_target_written_as_a_percentage_is_refused(toy):
    """The plans print shares as percentages (首位度 53%); a target of 53 copied as printed could never be met."""
    cfg = yaml.safe_load((toy / "region.yaml").read_text())
    cfg["targets"]["primacy"].update(unit="share", by_year={2030: 53})
    (toy / "region.yaml").write_text(yaml.safe_dump(cfg))
    e = error_of(toy)
    assert e.field == "targets.primacy" and "53 looks like a percentage: write 0.53" in str(e)


def test_a_projection_band_out_of_order_is_refused(toy):
    cfg = yaml.safe_load((toy / "region.yaml").read_text())
    cfg["projection"] = {"source": "toy", "tfr": {"low": 1.0, "mid": 1.2, "high": 1.4},
                         "resident": {2025: [11000, 10800, 10600]}, "hukou": {2025: [9000, 9100, 9200]}}
    (toy / "region.yaml").write_text(yaml.safe_dump(cfg))
    e = error_of(toy)
    assert e.field == "projection" and "resident 2025: expected [low, mid, high] in that order" in str(e)


def test_unknown_group_member(toy):
    cfg = yaml.safe_load((toy / "region.yaml").read_text())
    cfg["groups"]["west"]["members"].append("Q")
    (toy / "region.yaml").write_text(yaml.safe_dump(cfg))
    e = error_of(toy)
    assert e.field == "groups.west.members" and "'Q'" in str(e)


def test_baseline_edge_without_year(toy):
    def f(df):
        df.loc[1, "open_year"] = ""
    edit_csv(toy / "edges.csv", f)
    e = error_of(toy)
    assert e.line == 3 and e.field == "open_year" and "projects file" in str(e)


def test_economy_count_beyond_any_township(toy):
    def f(df):
        df.loc[1, "housing_urban"] = "99999999999999999999"
    edit_csv(toy / "economy.csv", f)
    e = error_of(toy)
    assert e.file.endswith("economy.csv") and e.line == 3 and e.field == "housing_urban" and "1000000000" in str(e)


def _edit_config(toy, change) -> None:
    cfg = yaml.safe_load((toy / "region.yaml").read_text())
    change(cfg)
    (toy / "region.yaml").write_text(yaml.safe_dump(cfg))


@pytest.mark.parametrize("change,field,expect", [
    # each of these loaded and then failed inside the run (found by fuzzing region.yaml, 600 sets)
    (lambda c: c["census"][2020]["age_0_14"].update(value=2.0), "census", "age_0_14: expected a share from 0 to 1, got 2"),
    (lambda c: c["census"][2020]["age_0_14"].update(value=0.3), "census", "must add up to 1 (within 0.01)"),
    (lambda c: c["census"][2010]["population"].update(value=1e30), "census", "expected persons from 0 to"),
    (lambda c: c["census"][2020].update(population={"value": 1000, "source": "x"},
                                         floating_population={"value": 2000, "source": "x"}), "census", "at most population"),
    (lambda c: c.update(external_zones=[]), "external_zones", "at least 1 item"),
    (lambda c: c["files"].update(edges=""), "files.edges", "at least 1 character"),
])
def test_region_yaml_facts_the_model_cannot_use(toy, change, field, expect):
    _edit_config(toy, change)
    e = error_of(toy)
    assert e.file.endswith("region.yaml") and e.field == field and expect in str(e), str(e)


def test_a_column_named_twice_in_a_header(toy):
    text = (toy / "economy.csv").read_text()
    (toy / "economy.csv").write_text(text.replace("housing_urban,", "housing_urban,housing_urban,", 1).replace("\n", "\n", 1))
    e = error_of(toy)
    assert e.file.endswith("economy.csv") and e.line == 1 and "column 'housing_urban' is named twice" in str(e)


def test_a_row_with_a_value_left_out(toy):
    """pandas pads a short row with empty cells: the values after the gap moved one column to the left, and the
    error named the wrong column, or none."""
    lines = (toy / "townships.csv").read_text().splitlines()
    cells = lines[2].split(",")
    del cells[8]  # pop_2020 of the second township
    lines[2] = ",".join(cells)
    (toy / "townships.csv").write_text("\n".join(lines) + "\n")
    e = error_of(toy)
    assert e.file.endswith("townships.csv") and e.line == 3 and "10 cells where the header has 11 columns" in str(e)


@pytest.mark.parametrize("key", ["townships", "economy", "edges"])
def test_a_table_name_that_is_a_folder(toy, key):
    (toy / "tables").mkdir()
    _edit_config(toy, lambda c: c["files"].update({key: "tables"}))
    e = error_of(toy)
    assert e.file.endswith("tables") and "a folder, not a file" in str(e) and "region.yaml's files" in str(e)
