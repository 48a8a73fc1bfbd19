import sys

from rtaid.cli import main

# `python -m rtaid` alone runs the daemon, like `rtaid run`.
raise SystemExit(main(sys.argv[1:] or ["run"]))
