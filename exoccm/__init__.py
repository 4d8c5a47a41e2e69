"""exoccm: a Kubernetes cloud controller manager for Exoscale."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("exoccm")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"
