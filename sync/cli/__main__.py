"""`python -m sync.cli`: the same command line as `oneonone`."""

from sync.cli import main

raise SystemExit(main())
