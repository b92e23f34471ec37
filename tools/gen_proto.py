"""Regenerate (or check) the protobuf and gRPC code under pausewatch/v1 from proto/.

The generator is the pinned grpcio-tools from the dev extra, so the output is reproducible;
`--check` regenerates into a temporary directory and fails if anything differs from the
checked-in files.
"""

from __future__ import annotations

import argparse
import filecmp
import sys
import tempfile
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
PACKAGE_DIR = Path("pausewatch") / "v1"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def generate(out: Path) -> None:
    sources = sorted(str(p.relative_to(PROTO_ROOT)) for p in (PROTO_ROOT / PACKAGE_DIR).glob("*.proto"))
    well_known = str(resources.files("grpc_tools") / "_proto")
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{well_known}",
        f"--plugin=protoc-gen-mypy={Path(sys.executable).parent / 'protoc-gen-mypy'}",
        f"--python_out={out}",
        f"--mypy_out={out}",
        f"--grpc_python_out={out}",
        *sources,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")


def generated_files(base: Path) -> set[str]:
    return {
        p.name for p in (base / PACKAGE_DIR).iterdir() if p.name.endswith(GENERATED_SUFFIXES)
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--out", type=Path, help="write generated code under this root")
    group.add_argument("--check", action="store_true", help="fail if checked-in code is stale")
    args = parser.parse_args()
    if args.out is not None:
        generate(args.out)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp)
        generate(fresh)
        want, have = generated_files(fresh), generated_files(ROOT)
        stale = sorted(want ^ have)
        stale += [
            name
            for name in sorted(want & have)
            if not filecmp.cmp(fresh / PACKAGE_DIR / name, ROOT / PACKAGE_DIR / name, shallow=False)
        ]
    if stale:
        print("generated protobuf code is stale; run `make proto`:", *stale, file=sys.stderr)
        return 1
    print("generated protobuf code is up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
