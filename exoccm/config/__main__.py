"""``python -m exoccm.config``: regenerate ``docs/configuration.md`` from the settings."""

from exoccm.config.reference import main

main()
