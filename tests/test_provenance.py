"""Provenance: a run records whether the code and data it ran from were committed."""

import subprocess

from workflow.io import provenance


def git(repo, *args):
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def test_git_dirty_sees_changed_and_untracked_files(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "config", "user.email", "t@example.org")
    git(repo, "config", "user.name", "t")
    (repo / "a.txt").write_text("1")
    (repo / ".gitignore").write_text("runs/\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "one")
    clean = provenance(repo)
    assert clean["git_commit"] and clean["git_dirty"] is False and clean["git_changes"] == []
    (repo / "runs").mkdir()
    (repo / "runs" / "out.csv").write_text("ignored")          # ignored files do not count
    assert provenance(repo)["git_dirty"] is False
    (repo / "new_scenario.yaml").write_text("levers: []")      # an untracked input file does
    p = provenance(repo)
    assert p["git_dirty"] is True and any("new_scenario.yaml" in c for c in p["git_changes"])
    (repo / "new_scenario.yaml").unlink()
    (repo / "a.txt").write_text("2")                            # and so does an edit
    assert provenance(repo)["git_dirty"] is True


def test_git_dirty_is_unknown_outside_a_repository(tmp_path):
    p = provenance(tmp_path)
    assert p["git_commit"] is None and p["git_dirty"] is None


def test_a_run_records_the_fingerprint_of_its_region_files(toy, tmp_path):
    """A region outside git (a planner's own copy) is still traced: run.json's region_fingerprint is the same for a
    copy of the folder elsewhere and changes with any edit of its files; compare.json records it too."""
    import json
    import shutil

    import run

    copy = tmp_path / "copy"
    shutil.copytree(toy, copy)
    prints = []
    for region in (toy, copy, copy):
        out = tmp_path / f"r{len(prints)}"
        assert run.main(["run", "--region", str(region), "--end", "2021", "--scale", "1.0", "--out", str(out)]) == 0
        prints.append(json.loads((out / "run.json").read_text())["region_fingerprint"])
        if len(prints) == 2:
            (copy / "townships.csv").write_text((copy / "townships.csv").read_text() + "\n", encoding="utf-8")
    assert prints[0] == prints[1] != prints[2] and len(prints[0]) == 16
    assert run.main(["compare", "--region", str(toy), "--scenarios", "baseline", "--seeds", "1", "--end", "2021",
                     "--scale", "1.0", "--out", str(tmp_path / "c")]) == 0
    assert json.loads((tmp_path / "c" / "compare.json").read_text())["region_fingerprint"] == prints[0]
