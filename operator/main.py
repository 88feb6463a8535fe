"""HealthDemo operator entry point:  kopf run operator/main.py --all-namespaces

The handlers live in the `healthdemo_operator` package (this folder is deliberately not a package:
`operator` is a standard-library module). Kopf loads this file by path, so make the package
importable from a plain checkout too, not only after `pip install`.
"""

import sys
from pathlib import Path

try:
    import healthdemo_operator  # noqa: F401
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from healthdemo_operator.settings import SettingError, Settings

try:  # before Kopf starts anything: a bad setting is one line and exit code 2, not a traceback
    Settings.from_env()
except SettingError as exc:
    sys.stderr.write(f"healthdemo-operator: {exc}\n")
    raise SystemExit(2) from None

from healthdemo_operator import handlers  # noqa: F401  (registers the Kopf handlers)
