from rtaid.cli import main

raise SystemExit(main())
