"""exoccm's configuration: environment variables (Go CCM names plus ``EXOCCM_*``) and the
optional cloud-config YAML.

    settings = Settings.from_environment()          # raises ConfigError listing every problem

The names below are imported on first use: the controllers import the cloud-config models from
this package, and the settings import the controller registry (the controller names), so
importing one module of this package must not import them all.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from exoccm.config.cloudconfig import (
        CloudConfig,
        InstanceOverride,
        InstancesConfig,
        LoadBalancerConfig,
        NodeAddress,
    )
    from exoccm.config.durations import format_go_duration, parse_go_duration
    from exoccm.config.loading import ConfigError
    from exoccm.config.reference import SettingInfo, render_markdown, settings_reference
    from exoccm.config.settings import Settings
    from exoccm.config.types import CONTROLLERS

_HOMES = {
    "CloudConfig": "cloudconfig",
    "InstanceOverride": "cloudconfig",
    "InstancesConfig": "cloudconfig",
    "LoadBalancerConfig": "cloudconfig",
    "NodeAddress": "cloudconfig",
    "format_go_duration": "durations",
    "parse_go_duration": "durations",
    "ConfigError": "loading",
    "SettingInfo": "reference",
    "render_markdown": "reference",
    "settings_reference": "reference",
    "Settings": "settings",
    "CONTROLLERS": "types",
}

__all__ = [
    "CONTROLLERS",
    "CloudConfig",
    "ConfigError",
    "InstanceOverride",
    "InstancesConfig",
    "LoadBalancerConfig",
    "NodeAddress",
    "SettingInfo",
    "Settings",
    "format_go_duration",
    "parse_go_duration",
    "render_markdown",
    "settings_reference",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
