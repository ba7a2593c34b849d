"""Repository-level invariants: Quick start = CI, one-way package dependencies, ruff clean."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("model", "decomposer", "plugin_bridge", "training")
# What each package may import from the others (DEVELOPERS.md: plugin_bridge -> decomposer -> model <- training).
ALLOWED = {
    "model": set(),
    "decomposer": {"model"},
    "plugin_bridge": {"decomposer"},
    "training": {"model", "decomposer"},
}


def _quick_start_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", section, re.S)]


def test_readme_quick_start_has_two_commands_and_ci_runs_them() -> None:
    commands = _quick_start_commands()
    assert len(commands) == 2, commands
    ci = (ROOT / ".ci" / "run").read_text()
    for command in commands:
        assert command in ci, f"{command!r} is not run by .ci/run"


def test_readme_light_install_runs_in_ci_without_torch() -> None:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Light install", 1)[1].split("\n## ", 1)[0]
    (command,) = [b.strip() for b in re.findall(r"```bash\n(.*?)```", section, re.S)]
    assert "pip install -q . " in command and "[" not in command  # no extras: no torch
    assert "decompose examples/house.png" in command
    ci = (ROOT / ".ci" / "run").read_text()
    assert command in ci, "the README's light install is not run by .ci/run"
    assert ci.index(command) < ci.index('find_spec(m) for m in ("torch"')


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _requirement_name(requirement: str) -> str:
    name = re.match(r"[A-Za-z0-9_.-]+", requirement)
    assert name, requirement
    return re.sub(r"[-_.]+", "-", name.group(0)).lower()


def _third_party_imports(path: Path, *, module_level_only: bool) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    nodes = tree.body if module_level_only else list(ast.walk(tree))
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n not in PACKAGES}


# Packages of an extra that light-path code may import inside a function, where a missing
# package becomes an error naming the extra (e.g. `--executor ray` without the [ray] extra).
EXTRA_GATED = {"ray"}


def _light_path_imports() -> dict[str, set[str]]:
    """Third-party imports of the light path -> the files that import them: every import in
    decomposer/ and plugin_bridge/ (editor plugins aside; inside functions, EXTRA_GATED ones
    aside), and the module-level imports of the model/ modules that `import model` loads
    (torch-only ones import torch lazily, on use)."""
    found: dict[str, set[str]] = {}
    files = [
        p
        for package in ("decomposer", "plugin_bridge")
        for p in sorted((ROOT / package).rglob("*.py"))
        if "plugins" not in p.parts
    ]
    for path in files:
        top = _third_party_imports(path, module_level_only=True)
        lazy = _third_party_imports(path, module_level_only=False) - top - EXTRA_GATED
        for name in top | lazy:
            found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    todo, seen = ["__init__"], set()
    while todo:  # model modules reachable from model/__init__.py through module-level imports
        stem = todo.pop()
        if stem in seen:
            continue
        seen.add(stem)
        path = ROOT / "model" / f"{stem}.py"
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
                todo.append(node.module.split(".")[0])
        for name in _third_party_imports(path, module_level_only=True):
            found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return found


def test_runtime_dependencies_cover_the_light_path_and_leave_torch_to_extras() -> None:
    project = _pyproject()["project"]
    runtime = {_requirement_name(r) for r in project["dependencies"]}
    extras = project["optional-dependencies"]
    assert not runtime & {"torch", "torchvision", "timm", "safetensors"}, runtime
    assert {"torch==2.14.1", "torchvision==0.29.1"} <= set(extras["torch"])
    assert "illustrators-depth[torch]" in extras["train"]
    assert "ray" in extras
    assert "illustrators-depth[torch,train,ray]" in extras["dev"]
    distributions = metadata.packages_distributions()
    missing = []
    for module, files in sorted(_light_path_imports().items()):
        names = {_requirement_name(d) for d in distributions.get(module, [module])}
        if module in {"torch", "torchvision", "timm", "safetensors"} or not names & runtime:
            missing.append(f"{module} ({', '.join(sorted(files))})")
    assert not missing, "light-path imports not in the runtime dependencies: " + "; ".join(missing)


def _imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & set(PACKAGES)


@pytest.mark.parametrize("package", PACKAGES)
def test_package_dependencies_point_one_way(package: str) -> None:
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        if "plugins" in path.parts:  # editor plugins run inside Krita/GIMP, not our packages
            continue
        bad = _imported_packages(path) - ALLOWED[package] - {package}
        if bad:
            offenders.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert not offenders, "\n".join(offenders)


# Modules of training/ that evaluate the decomposer itself (its layers, its SVG) and so use its
# public API; the rest of training/ uses decomposer/ for file I/O, SVG rendering, regions and the
# orderer only.
EVALUATES_DECOMPOSER = {"amodal_eval.py", "vector_eval.py"}


def test_training_uses_decomposer_only_for_file_io_regions_and_ordering() -> None:
    allowed = {
        "decomposer.image_io",
        "decomposer.atomic",
        "decomposer.regions",
        "decomposer.errors",
        "decomposer.svg_render",
        # the orderer is trained on the pipeline's own regions and features, and the layers
        # are evaluated as the pipeline writes them (docs/ARCHITECTURE.md)
        "decomposer.region_graph",
        "decomposer.orderer_features",
        "decomposer.orderer",
        "decomposer.ordering",
        "decomposer.grouping",
        "decomposer.options",
        "decomposer.pipeline",
        "decomposer.types",
    }
    offenders = []
    for path in sorted((ROOT / "training").rglob("*.py")):
        if path.name in EVALUATES_DECOMPOSER:
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.startswith("decomposer")
                and node.module not in allowed
            ):
                offenders.append(f"{path.relative_to(ROOT)}: from {node.module} import ...")
    assert not offenders, "\n".join(offenders)


def test_ruff_clean() -> None:
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed (pip install -e '.[dev]')")
    result = subprocess.run([ruff, "check", "--quiet", str(ROOT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# Inside decomposer.batch: what each module may import of its siblings (a DAG: plain data at the
# bottom, the runner at the top); the CLI depends on the runner, never the reverse, and Ray (an
# optional extra) is imported by its executor alone.
BATCH_ALLOWED = {
    "jobs": {"fingerprint"},
    "fingerprint": set(),
    "lock": set(),
    "plan": {"jobs"},
    "report": {"jobs"},
    "journal": {"jobs", "fingerprint"},
    "worker": {"jobs", "fingerprint"},
    "executors": {"jobs", "worker", "executors"},
    "runner": {"executors", "jobs", "journal", "plan", "report"},
}


def _modules_imported(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def test_batch_modules_depend_one_way_and_never_on_the_cli() -> None:
    batch = ROOT / "decomposer" / "batch"
    offenders = []
    for path in sorted(batch.rglob("*.py")):
        relative = path.relative_to(batch)
        if relative.name == "__init__.py" and relative.parent == Path("."):
            continue  # the package's public surface re-exports everything
        module = relative.parts[0].removesuffix(".py")
        assert module in BATCH_ALLOWED, f"{relative}: add it to BATCH_ALLOWED"
        for name in _modules_imported(path):
            if name == "decomposer.cli" or name.startswith("plugin_bridge"):
                offenders.append(f"{relative} imports {name}")
            if name.startswith("decomposer.batch."):
                sibling = name.split(".")[2]
                if sibling != module and sibling not in BATCH_ALLOWED[module]:
                    offenders.append(f"{relative} imports {name}")
            if name.split(".")[0] == "ray" and relative != Path("executors/ray_cluster.py"):
                offenders.append(f"{relative} imports ray (only executors/ray_cluster.py may)")
    for path in sorted((ROOT / "decomposer").rglob("*.py")):
        if path.name != "cli.py" and "decomposer.cli" in _modules_imported(path):
            offenders.append(f"{path.relative_to(ROOT)} imports decomposer.cli")
    assert not offenders, "\n".join(offenders)
