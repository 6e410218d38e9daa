"""`make bench` writes its table into the README between two markers (bench/table.py --readme):
the text around them stays as it was, and a README without them is refused, not rewritten."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("bench_table", Path(__file__).parents[2] / "bench" / "table.py")
assert _spec and _spec.loader
table = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(table)


def test_the_table_replaces_what_stood_between_the_markers_and_nothing_else() -> None:
    readme = f"# title\n\nbefore\n{table.BEGIN}\nold table\n| a | b |\n{table.END}\nafter\n"

    written = table.splice(readme, "| figure | median |\n|---|---|\n")

    assert written == f"# title\n\nbefore\n{table.BEGIN}\n| figure | median |\n|---|---|\n{table.END}\nafter\n"
    assert table.splice(written, "| figure | median |\n|---|---|") == written


@pytest.mark.parametrize("readme", ["no markers", f"{table.END}\n{table.BEGIN}", f"{table.BEGIN} only"])
def test_a_readme_without_both_markers_in_order_is_refused(readme: str) -> None:
    with pytest.raises(ValueError, match="markers"):
        table.splice(readme, "| figure |")


def test_the_project_readme_has_the_markers_once_each_in_its_measured_section() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()

    assert readme.count(table.BEGIN) == 1 and readme.count(table.END) == 1
    measured = readme.index("## Measured")
    assert measured < readme.index(table.BEGIN) < readme.index(table.END) < readme.index("\n## ", measured + 1)
