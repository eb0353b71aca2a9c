"""`python -m tether COMMAND …`: the `tether` command without its console script."""

from tether.main import main

raise SystemExit(main())
