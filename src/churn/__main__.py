"""`python -m churn` is the same as the `churn` command."""

import sys

from churn.cli import main

sys.exit(main())
