"""The floor plan holds: layers and faces (import-linter), one import name, hashes unchanged."""

from __future__ import annotations

import io
import pkgutil
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

import wfobj.engine
import wfobj.objstore
from tests import ROOT
from wfobj.engine import WorkflowService
from wfobj.objstore import MemoryObjectStore

FOLDERS = ("objstore", "engine", "api", "cli")

# A definition using every key, so a change in how any of them is normalized shows.
EVERY_KEY = """\
name: everykey
description: every definition key, so a change in how any of them is normalized shows
params:
  corpus: {type: file}
  n: {type: int, default: 3}
  label: {type: string, default: "x"}
tasks:
  count:
    image: wfobj/toolbox:local
    command: [sh, -c, "wc -w /in/corpus > /out/count; echo {{params.label}}"]
    inputs: {corpus: {param: corpus}}
    outputs: {files: [count], vars: [words]}
    env: {N: "{{params.n}}"}
    timeout: 60
    retries: 1
    workdir: /work
    network: false
    resources: {cpus: 0.5, memory: 256m, pids: 64}
    cache: true
    pull: never
  report:
    image: wfobj/toolbox:local
    command: [echo, "{{tasks.count.vars.words}}"]
    inputs: {count: {task: count, file: count}}
    after: [count]
"""

# Hashes computed by the code before the move to sub-packages and the wfobj import name.
BEFORE = {
    "corpus": "f63403205dccfce9dac46425880597138438a5065b0f65d8b22070f68a9f7677",
    "big": "764045d1ed7d0e76d64f14d8776a7a56ddfceba1562aa7da1f44f2ffd4ffff33",
    "wordcount": "da81eba0ab2096e677361b5d9af616d3f8bff84a2696ed9d93f83df0409f9ff5",
    "everykey": "9eca22653b59bb8305e89eb34cc9c930eb775612dbaa2949ffeb852e13d9281d",
}


def test_import_contracts_hold():
    """pyproject.toml's import-linter contracts: layers, faces, no cycles."""
    lint = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "5 kept, 0 broken" in proc.stdout


@pytest.mark.parametrize("face", [wfobj.engine, wfobj.objstore], ids=["engine", "objstore"])
def test_every_face_name_resolves_and_shadows_no_module(face):
    modules = {info.name.rsplit(".", 1)[-1]
               for info in pkgutil.iter_modules(face.__path__)}
    for name in face.__all__:
        assert name not in modules, f"{face.__name__}.{name} is also a module"
        getattr(face, name)  # imports the module that holds it
    with pytest.raises(AttributeError):
        face.no_such_name  # noqa: B018


def test_pyproject_lists_every_package_under_wfobj():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = {"wfobj." + ".".join(init.parent.relative_to(ROOT).parts)
             for folder in FOLDERS for init in (ROOT / folder).rglob("__init__.py")
             if "__pycache__" not in init.parts}
    assert set(config["packages"]) == found
    assert config["package-dir"] == {f"wfobj.{f}": f for f in FOLDERS}


@pytest.mark.slow
def test_the_wheel_installs_nothing_but_wfobj(tmp_path):
    source = tmp_path / "src"  # setuptools builds in the source tree: build a copy
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for name in FOLDERS:
        shutil.copytree(ROOT / name, source / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w",
                    str(tmp_path), str(source)], check=True, timeout=300,
                   capture_output=True)
    (wheel,) = tmp_path.glob("wfobj-*.whl")
    tops = {name.split("/", 1)[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert {top for top in tops if not top.endswith(".dist-info")} == {"wfobj"}
    names = zipfile.ZipFile(wheel).namelist()
    assert "wfobj/api/ui/templates/base.html" in names or any(
        n.startswith("wfobj/api/ui/templates/") for n in names)
    assert "wfobj/engine/__init__.py" in names


def test_stored_hashes_are_those_from_before_the_move():
    svc = WorkflowService(MemoryObjectStore())
    corpus = (ROOT / "examples" / "corpus.txt").read_bytes()
    assert svc.put_file(io.BytesIO(corpus))["hash"] == BEFORE["corpus"]
    big = bytes((i * 7919) % 251 for i in range(3 << 20))  # chunked: several objects
    assert svc.put_file(io.BytesIO(big))["hash"] == BEFORE["big"]
    for name, source in (("wordcount", (ROOT / "examples" / "wordcount.yaml").read_text()),
                         ("everykey", EVERY_KEY)):
        reg, _ = svc.apply_workflow(name, source, user="admin",
                                    content_type="application/yaml")
        assert reg["definition_hash"] == BEFORE[name]


def test_the_service_protocol_names_everything_both_services_offer():
    """What the engine's service and the CLI's client of a server both implement is in
    the Service protocol, with the same parameters, so the CLI can call it on either."""
    import inspect

    from wfobj.cli.client.service import RemoteService
    from wfobj.engine import Service

    def public(cls):
        return {name for name, value in vars(cls).items()
                if callable(value) and not name.startswith("_")}

    shared = public(WorkflowService) & public(RemoteService)
    assert shared <= public(Service), shared - public(Service)
    for name in public(Service):
        expected = list(inspect.signature(getattr(Service, name)).parameters)
        for cls in (WorkflowService, RemoteService):
            assert list(inspect.signature(getattr(cls, name)).parameters) == expected, \
                (cls.__name__, name)
