"""`make build` ships what the template declares: ffmpeg for its architecture whatever machine builds,
.pyc for python3.12, and every function within Lambda's 250 MB unzipped (scripts/build_artifacts.py)."""

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from devstack.template import load_template

ROOT = Path(__file__).resolve().parents[3]
BASH = shutil.which("bash") or "/bin/bash"
MAKE = shutil.which("make") or "/usr/bin/make"
_spec = importlib.util.spec_from_file_location("build_artifacts", ROOT / "scripts" / "build_artifacts.py")
assert _spec and _spec.loader
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)


def elf(machine: int) -> bytes:
    return b"\x7fELF" + bytes(14) + machine.to_bytes(2, "little") + bytes(44)


@pytest.fixture
def fake_pip(tmp_path: Path) -> tuple[Path, Path]:
    """A pip that records its arguments and fails, so fetch.sh stops before any download."""
    calls = tmp_path / "pip-calls"
    pip = tmp_path / "pip"
    pip.write_text(f'#!/bin/sh\necho "$@" >> {calls}\nexit 1\n')
    pip.chmod(0o755)
    return pip, calls


def fetch_env(pip: Path, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "FFMPEG_ARCH"}
    return {**env, "PIP": str(pip), "FFMPEG_WHEEL_CACHE": str(tmp_path / "wheels"), **extra}


def test_the_template_declares_one_architecture_for_every_function_and_layer():
    assert build.declared_architecture(load_template(ROOT / "template.yaml")) == "x86_64"


def test_a_function_on_another_architecture_than_the_layers_is_refused():
    template = load_template(ROOT / "template.yaml")
    template["Resources"]["HealthFunction"]["Properties"]["Architectures"] = ["arm64"]
    with pytest.raises(SystemExit, match="more than one architecture"):
        build.declared_architecture(template)


@pytest.mark.parametrize(("arch", "platform"), [("x86_64", "manylinux2014_x86_64"), ("arm64", "manylinux2014_aarch64")])
def test_fetch_picks_the_ffmpeg_build_of_the_architecture_it_is_given(tmp_path, fake_pip, arch, platform):
    pip, calls = fake_pip
    subprocess.run(
        [BASH, str(ROOT / "layers/ffmpeg/fetch.sh"), str(tmp_path / "bin")],
        env=fetch_env(pip, tmp_path, FFMPEG_ARCH=arch),
        capture_output=True,
        check=False,
    )
    assert f"--platform {platform}" in calls.read_text()


def test_the_layer_build_refuses_to_guess_the_architecture_from_the_build_machine(tmp_path, fake_pip):
    pip, calls = fake_pip
    done = subprocess.run(
        [MAKE, "--no-print-directory", "build-FfmpegLayer", f"ARTIFACTS_DIR={tmp_path / 'out'}"],
        cwd=ROOT / "layers/ffmpeg",
        env=fetch_env(pip, tmp_path),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0
    assert "FFMPEG_ARCH is unset" in done.stderr
    assert not calls.exists()


def test_the_layer_build_fetches_the_architecture_make_build_passes(tmp_path, fake_pip):
    pip, calls = fake_pip
    subprocess.run(
        [MAKE, "--no-print-directory", "build-FfmpegLayer", f"ARTIFACTS_DIR={tmp_path / 'out'}"],
        cwd=ROOT / "layers/ffmpeg",
        env=fetch_env(pip, tmp_path, FFMPEG_ARCH="arm64"),
        capture_output=True,
        check=False,
    )
    assert "--platform manylinux2014_aarch64" in calls.read_text()


BUILT = """
Globals:
  Function:
    Layers: [!Ref SharedLayer]
Resources:
  SharedLayer: {Type: AWS::Serverless::LayerVersion, Properties: {ContentUri: SharedLayer}}
  FfmpegLayer: {Type: AWS::Serverless::LayerVersion, Properties: {ContentUri: FfmpegLayer}}
  Api: {Type: AWS::Serverless::Function, Properties: {CodeUri: Api}}
  Worker: {Type: AWS::Serverless::Function, Properties: {CodeUri: Worker, Layers: [!Ref FfmpegLayer]}}
"""


@pytest.fixture
def build_dir(tmp_path: Path) -> Path:
    (tmp_path / "template.yaml").write_text(BUILT)
    for directory, size in [("SharedLayer/python/pkg", 3000), ("Api", 100), ("Worker", 200)]:
        (tmp_path / directory).mkdir(parents=True)
        (tmp_path / directory / "mod.py").write_text("x = 1\n" + "#" * (size - 6))
    (tmp_path / "FfmpegLayer/bin").mkdir(parents=True)
    for tool in ("ffmpeg", "ffprobe"):
        (tmp_path / "FfmpegLayer/bin" / tool).write_bytes(elf(62) + bytes(436))
    return tmp_path


def test_each_function_counts_its_code_and_every_layer_it_uses(build_dir):
    sizes = build.function_sizes(load_template(build_dir / "template.yaml"), build_dir)
    assert sizes == {"Api": 100 + 3000, "Worker": 200 + 3000 + 1000}


def test_finishing_a_build_compiles_unchecked_hash_bytecode_and_reports_sizes(build_dir, capsys):
    assert build.finish(sys.executable, build_dir) == 0
    (pyc,) = (build_dir / "SharedLayer/python/pkg/__pycache__").glob("mod.*.pyc")
    assert int.from_bytes(pyc.read_bytes()[4:8], "little") == 0b01  # hash-based, not checked against mtimes
    report = capsys.readouterr().out
    assert "limit 250 MB, x86_64" in report and "Worker" in report


def test_finishing_a_build_refuses_ffmpeg_built_for_another_architecture(build_dir, capsys):
    (build_dir / "FfmpegLayer/bin/ffmpeg").write_bytes(elf(183))
    assert build.finish(sys.executable, build_dir) == 1
    assert "is not built for x86_64" in capsys.readouterr().err


def test_finishing_a_build_refuses_an_ffmpeg_layer_without_both_binaries(build_dir, capsys):
    (build_dir / "FfmpegLayer/bin/ffprobe").unlink()
    assert build.finish(sys.executable, build_dir) == 1
    assert "not ffmpeg and ffprobe" in capsys.readouterr().err
