#!/usr/bin/env bash
# Run the rtaid demo in ./.venv, building first. Arguments go to `rtaid demo`.
source "$(dirname "${BASH_SOURCE[0]}")/_bootstrap.sh"
exec rtaid demo "$@"
