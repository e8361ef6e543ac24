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
