"""Every handler starts with the garbage collector off and hands a collecting interpreter to its invocations.

A handler that forgot `startup.finished()` would run every invocation with collection off and
leak every reference cycle it makes; one that imported `practika.startup` late would pay the
collector's walks over its start-up heap (~250 ms of cold start, bench/README.md).
"""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

from devstack.template import load_template
from tests.conftest import ROOT


def _handlers() -> list[tuple[str, Path]]:
    resources = load_template()["Resources"]
    found = []
    for logical_id, resource in resources.items():
        if resource["Type"] == "AWS::Serverless::Function":
            properties = resource["Properties"]
            module = properties["Handler"].rsplit(".", 1)[0]
            found.append((logical_id, ROOT / properties["CodeUri"] / f"{module}.py"))
    return found


def test_every_handler_imports_startup_first_and_finishes_it_last():
    handlers = _handlers()
    assert len(handlers) == 9
    for logical_id, path in handlers:
        body = ast.parse(path.read_text()).body[1:]  # after the docstring
        first, last = body[0], body[-1]
        assert isinstance(first, ast.ImportFrom) and first.module == "practika", logical_id
        assert [alias.name for alias in first.names] == ["startup"], logical_id
        assert ast.unparse(last) == "startup.finished()", logical_id


def test_after_import_the_collector_runs_and_start_up_objects_are_frozen():
    # A fresh interpreter per check: this test process has imported handlers already.
    script = """
import gc, importlib.util, json, sys
path = sys.argv[1]
spec = importlib.util.spec_from_file_location("handler_under_test", path)
module = importlib.util.module_from_spec(spec)
sys.path.insert(0, str(__import__("pathlib").Path(path).parent))
spec.loader.exec_module(module)
print(json.dumps({"enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}))
"""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "layers" / "shared"), "CHAT_ROUTES": "{}"}
    for logical_id, path in _handlers():
        answer = subprocess.run([sys.executable, "-c", script, str(path)], env=env, capture_output=True, text=True)
        assert answer.returncode == 0, f"{logical_id}: {answer.stderr[-2000:]}"
        state = json.loads(answer.stdout.strip().splitlines()[-1])
        assert state["enabled"], logical_id
        assert state["frozen"] > 50_000, (logical_id, state)  # the start-up heap, out of later collections
