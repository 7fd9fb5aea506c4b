from comments.cli import main

raise SystemExit(main())
