"""The systemd units pass `systemd-analyze verify` (where systemd-analyze exists)."""
import os
import shutil
import subprocess

import pytest

from tests.helpers import ROOT

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


def test_cpu_latency_drop_in_verifies_with_the_unit(tmp_path):
    """systemd/cpu-latency.conf (daemon.cpu_dma_latency_us) is a valid drop-in of the
    unit, read where an operator installs it (a broken copy of it fails the verify)."""
    drop_in = (ROOT / "systemd" / "cpu-latency.conf").read_text()
    assert "DeviceAllow=/dev/cpu_dma_latency w" in drop_in and "PrivateDevices=no" in drop_in
    for text, ok in ((drop_in, True), (drop_in.replace("DevicePolicy=closed", "DevicePolicy=closedd"), False)):
        stage = tmp_path / ("ok" if ok else "broken")
        stage.mkdir()
        paths = staged_units(stage, {"rtaid.service": (ROOT / "systemd" / "rtaid.service").read_text()})
        (stage / "rtaid.service.d").mkdir()
        (stage / "rtaid.service.d" / "cpu-latency.conf").write_text(text)
        out = verify(paths)
        if ok:
            assert out.returncode == 0 and not out.stderr.strip(), out.stderr
        else:
            assert "closedd" in out.stderr, out.stderr
