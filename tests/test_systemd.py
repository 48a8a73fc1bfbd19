"""The systemd units pass `systemd-analyze verify` (where systemd-analyze exists)."""
import os
import shutil
import subprocess

import pytest

from tests.conftest import ROOT

ANALYZE = shutil.which("systemd-analyze")
pytestmark = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze not installed")


def staged_units(tmp_path, texts):
    """Units with /opt/rtaid pointed at a staging dir holding an executable rtaid:
    verify checks that ExecStart binaries exist."""
    bindir = tmp_path / "opt" / "rtaid" / "venv" / "bin"
    bindir.mkdir(parents=True)
    (bindir / "rtaid").write_text("#!/bin/sh\n")
    os.chmod(bindir / "rtaid", 0o755)
    paths = []
    for name, text in texts.items():
        path = tmp_path / name
        path.write_text(text.replace("/opt/rtaid", str(tmp_path / "opt" / "rtaid")))
        paths.append(str(path))
    return paths


def verify(paths):
    return subprocess.run([ANALYZE, "verify", *paths], capture_output=True, text=True, timeout=60)


def test_units_verify_cleanly(tmp_path):
    units = {"rtaid.service": (ROOT / "systemd" / "rtaid.service").read_text(),
             "rtaid@shard1.service": (ROOT / "systemd" / "rtaid@.service").read_text()}
    out = verify(staged_units(tmp_path, units))
    assert out.returncode == 0 and not out.stderr.strip(), out.stderr


def test_verify_catches_a_broken_unit(tmp_path):
    text = (ROOT / "systemd" / "rtaid.service").read_text().replace("Type=notify", "Type=notifyy")
    out = verify(staged_units(tmp_path, {"rtaid.service": text}))
    assert "notifyy" in out.stderr


def test_units_keep_the_interfaces_operators_rely_on():
    unit = (ROOT / "systemd" / "rtaid.service").read_text()
    for line in ("Type=notify", "WatchdogSec=", "Restart=on-failure", "ExecReload=",
                 "StateDirectory=rtaid", "LogsDirectory=rtaid", "RuntimeDirectory=rtaid",
                 "User=rtaid", "ProtectSystem=strict", "NoNewPrivileges=yes", "PrivateTmp=yes",
                 "CapabilityBoundingSet=\n", "RestrictAddressFamilies=", "SystemCallFilter=@system-service"):
        assert line in unit, line
    assert "RTAID_API_SECRET" not in unit and "RTAID_API_KEY" not in unit
    shard = (ROOT / "systemd" / "rtaid@.service").read_text()
    assert "RTAID_CONFIG=/etc/rtaid/%i.toml" in shard


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
