"""What `sam build` produced (.aws-sam/build, from `make sam-build`, which `make test` runs first).

The layer ships the bluegreen package and its pinned runtime dependencies, built for the functions'
runtime and architecture; each function ships its handler alone; the built template wires the layer
to every function; dev-only code (tests/, local/, bluegreen_local) never ships.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest

from .conftest import CONDITIONAL_FUNCTIONS, FUNCTIONS, ROOT

BUILD = ROOT / ".aws-sam" / "build"
LAYER = "BluegreenLayer"
ALL_FUNCTIONS = {**FUNCTIONS, **CONDITIONAL_FUNCTIONS}
# Packages that only the tests and the local stack use: no shipped module imports them at load time.
DEV_ONLY_PACKAGES = {"bluegreen_local", "tests", "moto", "hypothesis", "pytest"}
# Path components that would mean dev-only code shipped.
DEV_ONLY_DIRS = {"tests", "local"}

pytestmark = pytest.mark.skipif(
    not (BUILD / "template.yaml").is_file(),
    reason="no .aws-sam/build: run `make sam-build` (`make test` does it before pytest)",
)


def built_template() -> dict[str, Any]:
    from cfnlint.decode import cfn_yaml

    return json.loads(json.dumps(cfn_yaml.load(str(BUILD / "template.yaml"))))


def layer_python() -> Path:
    return BUILD / LAYER / "python"


def pinned_requirements() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "shared" / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[name.strip()] = version.strip()
    return pins


def shipped_files() -> list[Path]:
    return [path for path in BUILD.rglob("*") if path.is_file()]


def our_shipped_modules() -> list[Path]:
    """The code of this repository in the build: the handlers and the bluegreen package."""
    handlers = [BUILD / logical_id / "app.py" for logical_id in ALL_FUNCTIONS]
    return [path for path in handlers if path.is_file()] + sorted((layer_python() / "bluegreen").rglob("*.py"))


# ---------------------------------------------------------------- the layer


def test_the_layer_ships_the_bluegreen_package_under_python() -> None:
    package = layer_python() / "bluegreen"
    assert (package / "__init__.py").is_file(), f"{package} missing: the layer must put bluegreen under python/"
    source = {p.relative_to(ROOT / "shared" / "bluegreen") for p in (ROOT / "shared" / "bluegreen").rglob("*.py")}
    built = {p.relative_to(package) for p in package.rglob("*.py")}
    assert source == built, (
        f"modules only in shared/bluegreen: {sorted(map(str, source - built))}, "
        f"only in the build: {sorted(map(str, built - source))} (stale build? run `make sam-build`)"
    )


@pytest.mark.parametrize("package", ["pydantic", "pydantic_core", "aws_lambda_powertools"])
def test_the_layer_ships_the_runtime_dependencies(package: str) -> None:
    assert (layer_python() / package / "__init__.py").is_file(), f"{package} is not in the layer"


def test_the_layer_ships_the_pinned_versions() -> None:
    dist_infos = {p.name for p in layer_python().glob("*.dist-info")}
    for name, version in pinned_requirements().items():
        expected = f"{re.sub(r'[-_.]+', '_', name)}-{version}.dist-info"
        assert expected in dist_infos, (
            f"{name}=={version} (shared/requirements.txt) is not in the layer: {sorted(dist_infos)}"
        )


def test_the_layer_is_built_for_the_functions_runtime_and_architecture() -> None:
    # Runtime python3.12 and Architectures [arm64]: pydantic-core's extension must match both.
    extensions = [p.name for p in (layer_python() / "pydantic_core").glob("*.so")]
    assert extensions, "pydantic_core has no compiled extension in the layer"
    assert all("cpython-312" in name and "aarch64" in name for name in extensions), extensions


# ---------------------------------------------------------------- the functions


@pytest.mark.parametrize("logical_id", sorted(ALL_FUNCTIONS))
def test_each_function_ships_its_handler(logical_id: str) -> None:
    built = BUILD / logical_id
    assert (built / "app.py").is_file(), f"{built}/app.py missing"
    assert (built / "app.py").read_bytes() == (ROOT / ALL_FUNCTIONS[logical_id] / "app.py").read_bytes(), (
        f"{logical_id}/app.py differs from {ALL_FUNCTIONS[logical_id]}/app.py (stale build? run `make sam-build`)"
    )
    # The bluegreen package and the dependencies come from the layer, once, not with each function.
    assert not (built / "bluegreen").exists()
    assert not (built / "pydantic").exists()


# ---------------------------------------------------------------- the built template


def test_the_built_template_points_at_the_built_code_and_references_the_layer() -> None:
    template = built_template()
    resources = template["Resources"]
    assert resources[LAYER]["Properties"]["ContentUri"] == LAYER
    global_layers = template.get("Globals", {}).get("Function", {}).get("Layers", [])
    for logical_id in ALL_FUNCTIONS:
        properties = resources[logical_id]["Properties"]
        assert (BUILD / properties["CodeUri"] / "app.py").is_file(), f"{logical_id}: CodeUri {properties['CodeUri']}"
        layers = properties.get("Layers", global_layers)
        assert {"Ref": LAYER} in layers, f"{logical_id} does not reference {LAYER}: {layers}"


# ---------------------------------------------------------------- dev-only code never ships


def dev_only_dirs_in(parts: tuple[str, ...]) -> set[str]:
    """tests/ or local/ directories in a built path: anywhere in our code, at the top of a third-party package."""
    if parts[0] == LAYER and len(parts) > 3 and parts[2] != "bluegreen":
        return DEV_ONLY_DIRS & {parts[2]}  # python/<third-party package>/...: only its name matters
    return DEV_ONLY_DIRS & set(parts[1:-1])


def test_no_dev_only_code_in_any_built_artifact() -> None:
    offending = []
    for path in shipped_files():
        parts = path.relative_to(BUILD).parts
        stray_bytecode = path.suffix == ".pyc" and (parts[0] != LAYER or ".cpython-312." not in path.name)
        if any(part.startswith("bluegreen_local") for part in parts) or dev_only_dirs_in(parts) or stray_bytecode:
            offending.append(str(path.relative_to(BUILD)))
    assert not offending, f"dev-only or stray compiled files in the build: {sorted(offending)[:20]}"


def test_the_layer_ships_bytecode_for_the_runtime() -> None:
    """/opt is read-only on Lambda: without .pyc files every cold start compiles the layer from source."""
    if not BUILD.is_dir():
        pytest.skip("no .aws-sam/build: run `make sam-build`")
    python = BUILD / LAYER / "python"
    for package in ("bluegreen", "pydantic", "aws_lambda_powertools"):
        sources = list((python / package).rglob("*.py"))
        compiled = list((python / package).rglob("__pycache__/*.cpython-312.pyc"))
        assert sources and len(compiled) >= len(sources) * 0.9, (
            f"{package}: {len(compiled)} .pyc for {len(sources)} .py"
        )


@pytest.mark.parametrize(
    "module", our_shipped_modules() if BUILD.is_dir() else [], ids=lambda path: str(path.relative_to(BUILD))
)
def test_no_shipped_module_imports_dev_only_code_at_load_time(module: Path) -> None:
    tree = ast.parse(module.read_text(), filename=str(module))
    # Module-level imports only (a function may import the local stack lazily, e.g. the CLI's `local`).
    imported = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module.split(".")[0])
    assert not imported & DEV_ONLY_PACKAGES, f"{module} imports {sorted(imported & DEV_ONLY_PACKAGES)}"
