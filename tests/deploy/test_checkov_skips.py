"""Every checkov skip in template.yaml silences a finding checkov really reports on this template: no skip
of a check that does not run on CloudFormation, and none of a check the resource already passes."""

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from devstack.template import load_template
from tests.deploy.conftest import ROOT

CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"


def skips(template: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (skip["id"], f"{resource['Type']}.{lid}")
        for lid, resource in template["Resources"].items()
        for skip in ((resource.get("Metadata") or {}).get("checkov") or {}).get("skip", [])
    }


@pytest.fixture(scope="module")
def findings_without_skips(tmp_path_factory: pytest.TempPathFactory) -> set[tuple[str, str]]:
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV} is missing: `make lint` (part of `make test`) installs checkov there")
    template = load_template()
    for resource in template["Resources"].values():
        (resource.get("Metadata") or {}).pop("checkov", None)
    path: Path = tmp_path_factory.mktemp("checkov") / "template.json"
    path.write_text(json.dumps(template))
    done = subprocess.run(
        [
            str(CHECKOV),
            "--file",
            str(path),
            "--framework",
            "cloudformation",
            "--skip-download",
            "--quiet",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    report = json.loads(done.stdout)
    report = report[0] if isinstance(report, list) else report
    return {(check["check_id"], check["resource"]) for check in report["results"]["failed_checks"]}


def test_every_skip_silences_a_finding_checkov_reports_without_it(findings_without_skips):
    assert skips(load_template()) - findings_without_skips == set()
