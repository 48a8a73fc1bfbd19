"""Prometheus' own programs for the monitoring tests: promtool and the prometheus server
from Debian's ``prometheus`` package, installed when missing (CI runs as root on a fresh
machine). Nothing is skipped: without them the tests fail and say why."""
import os
import shutil
import subprocess

import pytest

PACKAGE = "prometheus"
PROGRAMS = ("promtool", "prometheus")


def _apt_get(*args: str) -> subprocess.CompletedProcess:
    # wait for another apt/dpkg holding the lock instead of failing at once
    return subprocess.run(["apt-get", "-o", "DPkg::Lock::Timeout=300", *args],
                          capture_output=True, text=True, timeout=1800,
                          env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


def _install() -> str | None:
    """apt-get install the package (after apt-get update if the first try fails);
    None when it worked, else what went wrong. The package's service is not started:
    a policy-rc.d that refuses is in place during the install unless one exists."""
    policy = "/usr/sbin/policy-rc.d"
    placed = not os.path.exists(policy)
    if placed:
        with open(policy, "w") as fh:
            fh.write("#!/bin/sh\n# placed by rtaid's tests during apt-get install\nexit 101\n")
        os.chmod(policy, 0o755)
    try:
        run = _apt_get("install", "-y", "--no-install-recommends", PACKAGE)
        if run.returncode != 0:
            update = _apt_get("update")
            if update.returncode != 0:
                return f"apt-get update failed:\n{update.stdout[-1500:]}{update.stderr[-1500:]}"
            run = _apt_get("install", "-y", "--no-install-recommends", PACKAGE)
        if run.returncode != 0:
            return f"apt-get install {PACKAGE} failed:\n{run.stdout[-1500:]}{run.stderr[-1500:]}"
        return None
    finally:
        if placed:
            os.unlink(policy)


@pytest.fixture(scope="session")
def prometheus_programs() -> dict:
    """{"promtool": path, "prometheus": path}, installed from Debian's package if missing."""
    found = {name: shutil.which(name) for name in PROGRAMS}
    if all(found.values()):
        return found
    missing = ", ".join(name for name, path in found.items() if not path)
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.fail(f"{missing} not found, and this is not root with apt-get: install "
                    f"Debian's {PACKAGE} package (apt-get install {PACKAGE})")
    error = _install()
    if error:
        pytest.fail(f"{missing} not found and could not be installed: {error}")
    found = {name: shutil.which(name) for name in PROGRAMS}
    if not all(found.values()):
        pytest.fail(f"apt-get installed {PACKAGE} but {missing} is still not on PATH")
    return found


@pytest.fixture(scope="session")
def promtool(prometheus_programs) -> str:
    return prometheus_programs["promtool"]
