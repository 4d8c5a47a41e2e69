"""A local Exoscale API v2 for tests, benchmarks and the demo (see ``docs/simulator.md``).

>>> from exoccm.sim import Simulator, Fault
>>> sim = Simulator(seed=0, clock="manual")
>>> key, secret = sim.add_api_key()

Production code never imports this package, and it shares no code with ``exoccm.exoscale``.
The names below load on first use, so that ``exoccm.cli`` can register ``exoccm sim`` (via
:mod:`exoccm.sim.server`) where starlette, an optional dependency, is not installed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from exoccm.sim.clock import Clock, ManualClock, RealClock
    from exoccm.sim.cloud import RequestRecord
    from exoccm.sim.faults import Fault
    from exoccm.sim.simulator import Simulator

__all__ = ["Clock", "Fault", "ManualClock", "RealClock", "RequestRecord", "Simulator"]

_HOMES = {
    "Clock": "exoccm.sim.clock",
    "ManualClock": "exoccm.sim.clock",
    "RealClock": "exoccm.sim.clock",
    "RequestRecord": "exoccm.sim.cloud",
    "Fault": "exoccm.sim.faults",
    "Simulator": "exoccm.sim.simulator",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'exoccm.sim' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
