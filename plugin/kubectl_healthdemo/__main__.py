"""`python -m kubectl_healthdemo`: the same as the `kubectl-healthdemo` executable."""

from __future__ import annotations

import sys

from kubectl_healthdemo.cli import main

sys.exit(main())
