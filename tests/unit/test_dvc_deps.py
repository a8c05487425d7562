"""dvc.yaml's deps equal what each stage's script imports from the package, transitively.

A module a stage imports but does not list means editing it never reruns the stage; a module it
lists but never imports reruns the stage for nothing (editing the summary retraining every model).
Imports inside functions count too: they run when the stage runs.
"""
import ast
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "inpaint"


def _module_file(name: str) -> Path | None:
    """The file of an `inpaint...` module (a package's __init__.py), or None if it is not ours."""
    if name != PACKAGE and not name.startswith(PACKAGE + "."):
        return None
    base = ROOT / Path(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _imports(path: Path) -> set[str]:
    """Every module name `path` imports, at any depth (`from a import b` yields a and a.b)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def package_files(script: Path) -> set[str]:
    """Repo-relative paths of the package modules `script` imports, transitively."""
    seen: set[Path] = set()
    todo = [script]
    while todo:
        for name in _imports(todo.pop()):
            parts = name.split(".")
            # importing a.b.c runs a/__init__ and a/b/__init__ too
            for k in range(1, len(parts) + 1):
                path = _module_file(".".join(parts[:k]))
                if path is not None and path not in seen:
                    seen.add(path)
                    todo.append(path)
    return {str(p.relative_to(ROOT)) for p in seen if p.name != "__init__.py" or p.stat().st_size}


def _stages() -> list[tuple[str, list[str], Path]]:
    """(stage name, deps, script) for every stage of both pipelines (the main one and pretrain/, whose
    stages run from the repository root); foreach stages once per item."""
    params = {"": yaml.safe_load((ROOT / "params.yaml").read_text()),
              "pretrain/": yaml.safe_load((ROOT / "pretrain" / "params.yaml").read_text())}
    out = []
    specs = [("", yaml.safe_load((ROOT / "dvc.yaml").read_text())),
             ("pretrain/", yaml.safe_load((ROOT / "pretrain" / "dvc.yaml").read_text()))]
    stages = [(prefix + name, stage) for prefix, spec in specs for name, stage in spec["stages"].items()]
    for name, stage in stages:
        body = stage.get("do", stage)
        # pretrain/ is a DVC project of its own: its stages run from the repository root (cd ..) and name
        # their deps relative to pretrain/
        assert not name.startswith("pretrain/") or body["cmd"].startswith("cd .. && "), f"{name}: runs from the root"
        script = next(w for w in body["cmd"].split() if w.endswith(".py"))
        deps = [d if isinstance(d, str) else next(iter(d)) for d in body.get("deps", [])]
        deps = [d.removeprefix("../") if name.startswith("pretrain/") else d for d in deps]
        if "foreach" in stage:  # over a list of the pipeline's own params.yaml
            items = params["pretrain/" if name.startswith("pretrain/") else ""]
            for key in stage["foreach"].strip("${} ").split("."):
                items = items[key]
            out += [(f"{name}@{item}", [d.replace("${item}", item) for d in deps], ROOT / script) for item in items]
        else:
            out.append((name, deps, ROOT / script))
    return out


def _covered(module: str, deps: list[str]) -> bool:
    return any(module == d or module.startswith(d.rstrip("/") + "/") for d in deps)


STAGES = _stages()


@pytest.mark.parametrize("stage, deps, script", STAGES, ids=[s[0] for s in STAGES])
def test_deps_list_every_module_the_stage_imports_and_no_other(stage, deps, script):
    imported = package_files(script)
    assert script.relative_to(ROOT).as_posix() in deps, f"stage {stage}: deps lack its own script {script.name}"
    missing = sorted(m for m in imported if not _covered(m, deps))
    assert not missing, f"stage {stage}: deps lack {missing}, which {script.name} imports; add them to dvc.yaml"
    listed = [d for d in deps if d.startswith(PACKAGE + "/")]
    unused = sorted(d for d in listed if not any(_covered(m, [d]) for m in imported))
    assert not unused, f"stage {stage}: deps list {unused}, which {script.name} never imports; drop them from dvc.yaml"


def test_the_import_walk_follows_function_level_and_package_imports(tmp_path):
    files = package_files(ROOT / "stages" / "train.py")
    assert "inpaint/perceptual.py" in files  # imported inside inpaint.training.step.build_nets
    assert "inpaint/models/lama.py" in files  # through inpaint/models/__init__.py
    assert "inpaint/summary.py" not in files  # training draws grids, never the markdown summary
    script = tmp_path / "s.py"
    script.write_text("def f():\n    from inpaint.io import read_image\n")
    assert package_files(script) == {"inpaint/io.py"}


@pytest.mark.parametrize("module", ["inpaint/cli.py", "inpaint/fill.py", "inpaint/score.py", "inpaint/serve/app.py",
                                    "inpaint/export.py"])
def test_the_command_never_imports_evaluation_or_training(module):
    """Filling a user's photos needs methods, not the pipeline's evaluation or training code."""
    files = package_files(ROOT / module)
    assert "inpaint/methods.py" in files or module in ("inpaint/fill.py", "inpaint/score.py")  # fill gets a method
    assert not [f for f in files if f == "inpaint/evaluation.py" or f.startswith("inpaint/training")]


def test_training_depends_on_neither_the_reports_statistics_nor_evaluation():
    files = package_files(ROOT / "stages" / "train.py")
    assert not {"inpaint/stats.py", "inpaint/plots.py", "inpaint/summary.py", "inpaint/report.py",
                "inpaint/evaluation.py", "inpaint/methods.py"} & files
