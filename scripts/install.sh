#!/usr/bin/env bash
# Install rtaid as a systemd service on this host (run as root from a checkout):
#   - the `rtaid` system user and its directories,
#   - a virtualenv with rtaid and its dependencies under /opt/rtaid/venv,
#   - the units rtaid.service and rtaid@.service, an example config and env file.
# It never overwrites an existing /etc/rtaid/rtaid.toml or rtaid.env.
# PREFIX=/some/root installs into a staging root (packaging, tests) and skips systemctl.
set -euo pipefail
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX="${PREFIX:-}"
OPT="$PREFIX/opt/rtaid"
ETC="$PREFIX/etc/rtaid"
UNITS="$PREFIX/etc/systemd/system"

if [ -z "$PREFIX" ] && [ "$(id -u)" -ne 0 ]; then
    echo "install.sh: run as root (or set PREFIX for a staging install)" >&2
    exit 1
fi
if [ -z "$PREFIX" ] && ! id rtaid >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/rtaid --no-create-home --shell /usr/sbin/nologin rtaid
fi
install -d -m 0755 "$OPT" "$UNITS"
install -d -m 0750 "$ETC"
python3 -m venv "$OPT/venv"
"$OPT/venv/bin/python" -m pip install -q --upgrade pip setuptools wheel "Cython>=3.1" "picows>=1.6"
"$OPT/venv/bin/python" -m pip install -q "$SRC"
install -m 0644 "$SRC/README.md" "$OPT/README.md"
install -m 0644 "$SRC/systemd/rtaid.service" "$SRC/systemd/rtaid@.service" "$UNITS/"
[ -e "$ETC/rtaid.toml" ] || install -m 0640 "$SRC/config/rtaid.example.toml" "$ETC/rtaid.toml"
[ -e "$ETC/rtaid.env" ] || install -m 0600 "$SRC/systemd/rtaid.env.example" "$ETC/rtaid.env"
if [ -z "$PREFIX" ]; then
    chown root:rtaid "$ETC" "$ETC/rtaid.toml"
    systemctl daemon-reload
    echo "installed: edit /etc/rtaid/rtaid.toml, then: systemctl enable --now rtaid"
else
    echo "staged into $PREFIX"
fi
