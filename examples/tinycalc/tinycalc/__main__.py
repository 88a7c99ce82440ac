from tinycalc.cli import main

raise SystemExit(main())
