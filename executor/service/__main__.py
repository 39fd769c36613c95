"""``python -m executor.service --config-file FILE``: the same as ``action-executor serve``."""

from __future__ import annotations

import sys

from executor.service.cli import main

sys.exit(main())
