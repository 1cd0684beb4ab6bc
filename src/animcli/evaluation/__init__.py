"""``animcli eval``: the papers' reconstruction protocol and its metrics, computed offline.

* :mod:`~animcli.evaluation.metrics` — L1, AKD, AED, MKR as pluggable metric classes over feature backends;
* :mod:`~animcli.evaluation.reconstruct` — rebuild each test video through a model, scoring as it streams;
* :mod:`~animcli.evaluation.compare` — score another tool's videos against the originals;
* :mod:`~animcli.evaluation.report` — per-video and overall records, table, JSON and distribution plot;
* :mod:`~animcli.evaluation.runner` — ``run``: the whole ``animcli eval`` command as one call.
"""

from animcli.evaluation.runner import run

__all__ = ["run"]
