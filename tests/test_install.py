"""A production install (scripts/install.sh: no extras) in a fresh venv has everything
its commands import: the commands run, including the demo against the embedded sim."""
import importlib.metadata
import os
import re
import subprocess
import sys
import tomllib

import pytest

from tests.helpers import ROOT
from tests.test_layout import imported_modules, production_sources

@pytest.mark.slow
def test_install_script_stages_a_working_installation(tmp_path):
    """scripts/install.sh with PREFIX: a real venv with the built package (about 1.5 min)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RTAID_", "VIRTUAL_ENV"))}
    env["PREFIX"] = str(tmp_path)
    out = subprocess.run(["bash", str(ROOT / "scripts" / "install.sh")], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    venv = tmp_path / "opt" / "rtaid" / "venv" / "bin"
    for tool in ("rtaid", "rtaidctl", "rtaid-sim"):
        assert (venv / tool).exists(), tool
    toml = tmp_path / "etc" / "rtaid" / "rtaid.toml"
    check = subprocess.run([str(venv / "rtaid"), "config", "check", str(toml)],
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stderr
    assert oct((tmp_path / "etc" / "rtaid" / "rtaid.env").stat().st_mode & 0o777) == "0o600"
    kernels = subprocess.run([str(venv / "python"), "-c", "import rtaid._kernels.engine, rtaid.feed.listener"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert kernels.returncode == 0, kernels.stderr
    # the installed commands run with what the install brought (no test extras)
    for cmd in (["rtaid", "--help"], ["rtaid-sim", "--help"], ["rtaidctl", "--help"]):
        out = subprocess.run([str(venv / cmd[0]), *cmd[1:]], cwd=tmp_path,
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0 and "usage" in out.stdout.lower(), (cmd, out.stderr[-2000:])
    demo = subprocess.run([str(venv / "rtaid"), "demo", "--duration", "5",
                           "--set", f"storage.data_dir={tmp_path / 'demo-data'}"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-3000:]
    assert "Traceback" not in demo.stderr



# The optional parts and the extra that installs what they import: a module of such a
# part may import its extra's packages (the command says how to install them when
# missing); the rest of the package only the [project] dependencies.
OPTIONAL_PARTS = {"rtaid/dashboard/": "dashboard", "rtaid/ai/": "ai", "rtaid/freqtrade/": "freqtrade"}


def _names(requirements) -> set[str]:
    return {re.split(r"[<>=!~\[ ;]", d, maxsplit=1)[0].lower().replace("_", "-")
            for d in requirements}


def test_every_third_party_import_of_the_package_is_a_declared_dependency():
    """What production code imports must be in [project] dependencies (or, in an
    optional part, its extra), not merely installed because something else (the test
    extras, ccxt) happens to pull it in."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = _names(project["dependencies"])
    extras = {name: _names(reqs) for name, reqs in project["optional-dependencies"].items()}
    build_time = {"cython", "libc", "cpython"}          # cimports, compile time only
    dists = importlib.metadata.packages_distributions()
    stdlib = set(sys.stdlib_module_names)
    missing = {}
    for path in production_sources():
        rel = str(path.relative_to(ROOT))
        extra = next((e for prefix, e in OPTIONAL_PARTS.items() if rel.startswith(prefix)), None)
        declared = core | extras.get(extra, set())
        for module in imported_modules(path):
            top = module.split(".")[0]
            if top in stdlib or top in ("rtaid", "<relative>") or top in build_time:
                continue
            names = {d.lower().replace("_", "-") for d in dists.get(top, [top])}
            if not names & declared:
                missing.setdefault(top, []).append(str(path.relative_to(ROOT)))
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"


@pytest.mark.slow
def test_the_kernels_compile_without_a_warning(tmp_path):
    """The first run shows no C compiler warning (book.c once discarded a const)."""
    env = dict(os.environ, RTAID_KERNELS="book,engine")
    env.pop("RTAID_DEBUG", None)
    out = subprocess.run([sys.executable, "setup.py", "build_ext", "--force",
                          "--build-lib", str(tmp_path / "lib"), "--build-temp", str(tmp_path / "tmp")],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    warnings = [line for line in (out.stdout + out.stderr).splitlines() if "warning:" in line]
    assert not warnings, "\n".join(warnings[:20])
