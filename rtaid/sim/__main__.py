from rtaid.sim.cli import main

raise SystemExit(main())
