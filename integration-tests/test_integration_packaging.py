"""Every workspace package builds, and its wheel installs and imports in a clean venv outside the
workspace with only its declared dependencies (siblings from the freshly built wheels)."""

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MEMBERS = {"econcs-shared": ROOT / "shared"} | {
    tomllib.loads((p / "pyproject.toml").read_text())["project"]["name"]: p
    for p in sorted((ROOT / "packages").iterdir())
    if (p / "pyproject.toml").exists()
}
UV = shutil.which("uv")


def test_no_namespace_init_anywhere():
    offenders = sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("**/src/econcs/__init__.py"))
    assert offenders == [], f"econcs is a PEP 420 namespace; remove {offenders}"


def test_every_package_has_the_standard_shape():
    for name, path in MEMBERS.items():
        short = name.removeprefix("econcs-").replace("-", "_")  # the import name
        assert (path / "README.md").read_text().strip(), f"{name}: empty README"
        assert (path / "src" / "econcs" / short / "__init__.py").exists(), name
        assert any((path / "tests").glob("test_*.py")), f"{name}: no tests"
        meta = tomllib.loads((path / "pyproject.toml").read_text())["project"]
        for dep in meta["dependencies"]:
            assert any(op in dep for op in (">=", "~=")), f"{name}: unbounded dependency {dep!r}"
            assert "==" not in dep, f"{name}: exact pin {dep!r} (pins belong in uv.lock)"


@pytest.fixture(scope="module")
def wheels(tmp_path_factory):
    if UV is None:
        pytest.skip("uv is not on PATH")
    out = tmp_path_factory.mktemp("wheels")
    for name in MEMBERS:
        subprocess.run([UV, "build", "--package", name, "--out-dir", str(out), "--quiet"],
                       cwd=ROOT, check=True)
    return out


@pytest.mark.parametrize("name", sorted(MEMBERS))
def test_wheel_installs_and_imports_in_clean_venv(name, wheels, tmp_path):
    short = name.removeprefix("econcs-").replace("-", "_")  # the import name
    built = {p.name.split("-")[0].replace("_", "-"): p for p in wheels.glob("*.whl")}
    assert name in built, f"no wheel built for {name}: {sorted(built)}"
    assert any(p.name.startswith(name.replace("-", "_")) for p in wheels.glob("*.tar.gz"))
    venv = tmp_path / "venv"
    # outside the workspace: no project discovery, no workspace sources
    subprocess.run([UV, "venv", str(venv), "--python", sys.executable, "--quiet"],
                   cwd=tmp_path, check=True)
    python = venv / "bin" / "python"
    # the package and econcs-shared from the fresh wheels, third-party packages from the index
    local = {str(built[name]), str(built["econcs-shared"])}
    subprocess.run(
        [UV, "pip", "install", "--python", str(python), "--quiet", *sorted(local)],
        cwd=tmp_path, check=True, env={**_env(), "UV_LINK_MODE": "hardlink"},
    )
    code = (
        f"import econcs.{short} as m; assert m.__all__, 'empty __all__';"
        "[getattr(m, n) for n in m.__all__];"
        "import econcs, sys; assert not hasattr(econcs, '__file__') or econcs.__file__ is None;"
        "print('ok')"
    )
    res = subprocess.run([str(python), "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         env=_env())
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr[-3000:]


def _env():
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "UV_PROJECT"))}
    env.pop("PYTHONPATH", None)
    return env
