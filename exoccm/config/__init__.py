"""exoccm's configuration: environment variables (Go CCM names plus ``EXOCCM_*``) and the
optional cloud-config YAML.

    settings = Settings.from_environment()          # raises ConfigError listing every problem
"""

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
