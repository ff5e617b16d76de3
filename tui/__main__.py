"""``python -m tui`` runs the same command as ``ftpfault``."""

import sys

from .cli import main

sys.exit(main())
