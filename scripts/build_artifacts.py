"""What `make build` needs around `sam build`, whatever machine builds.

    build_artifacts.py arch                    print the architecture template.yaml declares for every function
    build_artifacts.py finish --python PY312   after sam build: compile .pyc with the runtime's Python, check
                                               the ffmpeg binaries' architecture, print each function's size

The ffmpeg layer's binaries are chosen by FFMPEG_ARCH, which `make build` sets from `arch`: a build on an
ARM machine must still ship the x86_64 binaries an x86_64 template runs ("Exec format error" otherwise).
/opt and /var/task are read-only on Lambda, so a module without a matching .pyc is compiled again on every
cold start: `finish` writes unchecked-hash .pyc files (valid whatever mtimes the zip carries).
"""

import argparse
import subprocess
import sys
from pathlib import Path
from typing import Any

from devstack.template import load_template

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / ".aws-sam" / "build"
# Lambda quota: "Deployment package (.zip file archive) size: 250 MB (unzipped)", function and layers together.
# https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
UNZIPPED_LIMIT = 250 * 1000 * 1000
# ELF e_machine of the binaries each Lambda architecture runs.
ELF_MACHINE = {"x86_64": 62, "arm64": 183}


def declared_architecture(template: dict[str, Any]) -> str:
    """The one architecture of every function; layers must be built for it (one ffmpeg layer serves all)."""
    default = template.get("Globals", {}).get("Function", {}).get("Architectures", ["x86_64"])
    found = set()
    for resource in template["Resources"].values():
        props = resource.get("Properties") or {}
        if resource["Type"] == "AWS::Serverless::Function":
            found.add(tuple(props.get("Architectures", default)))
        elif resource["Type"] == "AWS::Serverless::LayerVersion":
            found.add(tuple(props.get("CompatibleArchitectures", default)))
            build_arch = (resource.get("Metadata") or {}).get("BuildArchitecture")
            if build_arch:
                found.add((build_arch,))
    if len(found) != 1 or len(next(iter(found))) != 1:
        raise SystemExit(f"template.yaml declares more than one architecture: {sorted(found)}")
    (architecture,) = found.pop()
    return str(architecture)


def elf_machine(path: Path) -> int:
    header = path.read_bytes()[:20]
    if header[:4] != b"\x7fELF":
        raise SystemExit(f"{path} is not an ELF binary")
    return int.from_bytes(header[18:20], "little")


def directory_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def function_sizes(built: dict[str, Any], build_dir: Path) -> dict[str, int]:
    """Unzipped bytes of each function: its own code plus every layer it uses."""
    global_layers = built.get("Globals", {}).get("Function", {}).get("Layers", [])
    sizes = {}
    for lid, resource in built["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        layers = [layer["Ref"] for layer in global_layers + props.get("Layers", [])]
        sizes[lid] = directory_bytes(build_dir / props["CodeUri"]) + sum(
            directory_bytes(build_dir / built["Resources"][layer]["Properties"]["ContentUri"]) for layer in layers
        )
    return sizes


def compile_bytecode(python: str, directories: list[Path]) -> None:
    subprocess.run(
        # Dependencies' own escape-sequence warnings are theirs, not news for a build log.
        [
            python,
            "-W",
            "ignore::SyntaxWarning",
            "-m",
            "compileall",
            "-q",
            "-j",
            "0",
            "--invalidation-mode",
            "unchecked-hash",
            *map(str, directories),
        ],
        check=True,
    )


def finish(python: str, build_dir: Path = BUILD) -> int:
    built = load_template(build_dir / "template.yaml")
    architecture = declared_architecture(load_template(ROOT / "template.yaml"))
    binaries = sorted((build_dir / "FfmpegLayer" / "bin").glob("ff*"))
    if {b.name for b in binaries} != {"ffmpeg", "ffprobe"}:
        print(f"the ffmpeg layer holds {[b.name for b in binaries]}, not ffmpeg and ffprobe", file=sys.stderr)
        return 1
    for binary in binaries:
        if elf_machine(binary) != ELF_MACHINE[architecture]:
            print(f"{binary} is not built for {architecture}, the template's architecture", file=sys.stderr)
            return 1
    code_dirs = [
        build_dir / r["Properties"]["CodeUri"]
        for r in built["Resources"].values()
        if r["Type"] == "AWS::Serverless::Function"
    ]
    compile_bytecode(python, [build_dir / "SharedLayer", *sorted(set(code_dirs))])
    sizes = function_sizes(built, build_dir)
    print(f"unzipped size per function (code + layers), limit {UNZIPPED_LIMIT / 1e6:.0f} MB, {architecture}:")
    for lid, size in sorted(sizes.items()):
        print(f"  {lid:<28} {size / 1e6:7.1f} MB  {100 * size / UNZIPPED_LIMIT:5.1f}%")
    over = [lid for lid, size in sizes.items() if size > UNZIPPED_LIMIT]
    if over:
        print(f"over Lambda's 250 MB unzipped limit: {', '.join(over)}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("arch")
    finishing = commands.add_parser("finish")
    finishing.add_argument("--python", required=True, help="the runtime's interpreter (python3.12)")
    args = parser.parse_args(argv)
    if args.command == "arch":
        print(declared_architecture(load_template(ROOT / "template.yaml")))
        return 0
    return finish(args.python)


if __name__ == "__main__":
    raise SystemExit(main())
