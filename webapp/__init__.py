"""The HealthDemo webapp: a Flask app whose health can be broken on purpose.

Every endpoint teaches one probe behaviour (docs/webapp-api.md). State lives in this process
only, so a container restart heals it — that is the point of the demo.

The package itself imports nothing, so the exec check (`python -m webapp.check`, run by the
kubelet at every probe) starts fast, without Flask.
"""

__version__ = "0.1.0"
