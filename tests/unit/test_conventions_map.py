"""docs/CONVENTIONS.md's map matches the code: every file it names exists, each flow names at most
three files of practika/, and every function of the template has its row."""

import re

from devstack.template import load_template
from tests.conftest import ROOT

CONVENTIONS = ROOT / "docs" / "CONVENTIONS.md"
PRACTIKA = ROOT / "layers" / "shared" / "practika"


def _map_rows() -> list[tuple[str, str, list[str]]]:
    """(flow, handler, practika files) for each row of the map's table."""
    text = CONVENTIONS.read_text()
    section = text.split("## Map", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[1].startswith("`functions/"):
            continue
        handler = cells[1].strip("`")
        files = re.findall(r"`([^`]+\.py)`", cells[2])
        rows.append((cells[0], handler, files))
    return rows


def test_every_file_the_map_names_exists():
    rows = _map_rows()

    assert rows, "the map has no rows"
    for flow, handler, files in rows:
        assert (ROOT / handler).is_file(), f"{flow}: {handler}"
        for name in files:
            assert (PRACTIKA / name).is_file(), f"{flow}: practika/{name}"


def test_each_flow_reads_in_at_most_three_files_of_practika():
    for flow, _, files in _map_rows():
        assert 1 <= len(files) <= 3, flow


def test_every_function_of_the_template_has_a_row_in_the_map():
    handlers = {
        f"{props['CodeUri'].rstrip('/')}/{props['Handler'].rsplit('.', 1)[0]}.py"
        for resource in load_template()["Resources"].values()
        if resource["Type"] == "AWS::Serverless::Function"
        for props in [resource["Properties"]]
    }

    assert handlers == {handler for _, handler, _ in _map_rows()}
