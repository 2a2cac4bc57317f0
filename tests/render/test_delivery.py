"""The render mechanism: deterministic bytes, changed=0 on a second run, check mode writes nothing, stale files go."""

import filecmp
import re

from .conftest import render


def _recap_changed(output):
    match = re.search(r"localhost\s*:\s*ok=\d+\s+changed=(\d+)", output)
    assert match, f"no play recap in output:\n{output[-2000:]}"
    return int(match.group(1))


def _tree_files(path):
    return sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file())


def test_second_run_changes_nothing_and_output_is_deterministic(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    run1 = render("gke_l4", first)
    assert run1.returncode == 0, run1.stdout[-3000:]
    assert _recap_changed(run1.stdout) > 0
    run2 = render("gke_l4", first)
    assert run2.returncode == 0
    assert _recap_changed(run2.stdout) == 0, "a no-op render reported changes"

    run3 = render("gke_l4", second)
    assert run3.returncode == 0
    files = _tree_files(first)
    assert files == _tree_files(second)
    match, mismatch, errors = filecmp.cmpfiles(first, second, files, shallow=False)
    assert not mismatch and not errors, f"renders differ: {mismatch or errors}"


def test_check_mode_writes_nothing_and_reports_changes(tmp_path):
    out = tmp_path / "tree"
    proc = render("vast", out, check=True)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert _recap_changed(proc.stdout) > 0
    assert not out.exists() or not any(out.rglob("*"))


def test_stale_files_are_removed_and_foreign_files_kept(tmp_path):
    out = tmp_path / "tree"
    assert render("gke_l4", out).returncode == 0
    layer = out / "platform"
    stale = layer / "namespace-retired.yaml"
    stale.write_text((layer / "kustomization.yaml").read_text().splitlines()[0] + "\nkind: Namespace\n")
    foreign = layer / "README.yaml"
    foreign.write_text("# written by a human\n")
    proc = render("gke_l4", out)
    assert proc.returncode == 0
    assert not stale.exists(), "a file the layer no longer renders was kept"
    assert foreign.exists(), "a file the layer never wrote was deleted"
    assert _recap_changed(proc.stdout) == 1


def test_hand_edits_are_reverted(tmp_path):
    out = tmp_path / "tree"
    assert render("gke_l4", out).returncode == 0
    target = out / "platform" / "priorityclass-llmaas-serving.yaml"
    original = target.read_text()
    target.write_text(original.replace("value: 100000", "value: 5"))
    proc = render("gke_l4", out)
    assert _recap_changed(proc.stdout) == 1
    assert target.read_text() == original
