"""The configuration reference, generated from the :class:`Settings` fields.

``docs/configuration.md`` is :func:`render_markdown`'s output; a test keeps them equal.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exoccm.config.durations import format_go_duration
from exoccm.config.settings import Settings
from exoccm.controllers.registry import CONTROLLERS, ControllerSpec
from exoccm.rbac import PROCESS, lease_permissions, ordered


@dataclass(frozen=True)
class SettingInfo:
    """One setting as the reference documents it."""

    field: str
    env: tuple[str, ...]
    kind: str
    default: str
    description: str
    cloud_config: str | None = None
    secret: bool = False


def settings_reference() -> list[SettingInfo]:
    """Every setting read from the environment, in declaration order."""
    infos = []
    for name, field in Settings.model_fields.items():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        env = extra.get("env")
        if not isinstance(env, list) or not env:
            continue  # cloud-config-only sections, documented separately
        kind = str(extra.get("kind", "string"))
        infos.append(
            SettingInfo(
                field=name,
                env=tuple(str(e) for e in env),
                kind=kind,
                default=str(extra.get("default_text") or _default_text(field.default, kind)),
                description=field.description or "",
                cloud_config=str(extra["cloud_config"]) if extra.get("cloud_config") else None,
                secret=bool(extra.get("secret")),
            )
        )
    return infos


def _default_text(default: Any, kind: str) -> str:
    if default is None or default == ():
        return "unset"
    if kind == "duration":
        return format_go_duration(float(default))
    if isinstance(default, bool):
        return str(default).lower()
    if isinstance(default, tuple):
        return ",".join(str(item) for item in default)
    return str(default)


_CLOUD_CONFIG_EXAMPLE = """\
```yaml
global:                       # EXOSCALE_API_* variables override these
  apiKey: EXO...
  apiSecret: ...
  apiCredentialsFile: /etc/exoscale/credentials.json
  apiEndpoint: https://api-ch-gva-2.exoscale.com/v2
instances:
  disabled: false             # true: no node or lifecycle controller
  externalOnly: false         # true: only nodes matched by an override are known
  overrides:
    - name: edge-1            # exact node name, or "/regex/" (first matching regex wins)
      external: true          # not an Exoscale instance
      externalID: edge-1      # providerID exoscale://edge-1
      type: bare-metal        # node.kubernetes.io/instance-type
      region: on-prem         # topology.kubernetes.io/region and zone
      addresses:
        - {type: InternalIP, address: 10.0.0.5}
loadBalancer:
  disabled: false             # true: no service controller
```
"""


def _cell(text: str) -> str:
    """Table-cell text: no column breaks, no accidental HTML tags."""
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _switches(spec: ControllerSpec) -> tuple[str, str]:
    """(what else turns ``spec`` on, what turns it off)."""
    on = f"`EXOSCALE_SKS_AGENT_RUNNERS={spec.sks_agent_runner}`" if spec.sks_agent_runner else ""
    off = f"cloud-config `{spec.cloud_config_section}.disabled: true`"
    return on or "-", off if spec.cloud_config_section else "-"


def _controllers_section() -> list[str]:
    lines = [
        "## Controllers",
        "",
        "`EXOCCM_CONTROLLERS` names the controllers to run (the Go CCM's names are accepted "
        "too): `*` turns on those on by default, `-name` turns one off.",
        "",
        "| Controller | With `*` | Also accepted | Also turned on by | Turned off by | What it does |",
        "|---|---|---|---|---|---|",
    ]
    for spec in CONTROLLERS:
        aliases = ", ".join(f"`{alias}`" for alias in spec.aliases) or "-"
        on, off = _switches(spec)
        default = "on" if spec.on_by_default else "off"
        cells = (default, aliases, on, off, _cell(spec.summary))
        lines.append(f"| `{spec.name}` | {' | '.join(cells)} |")
    lines += [
        "",
        "### Kubernetes permissions",
        "",
        "What each controller needs (`exoccm doctor` checks them; the chart grants exactly "
        "these for the controllers it enables):",
        "",
        f"- always: {', '.join(f'`{p}`' for p in PROCESS)}",
        "- with leader election: "
        + ", ".join(f"`{p}`" for p in lease_permissions("<namespace>", "<lease name>")),
    ]
    for spec in CONTROLLERS:
        needs = ordered(spec.all_permissions)
        lines.append(f"- `{spec.name}`: {', '.join(f'`{p}`' for p in needs)}")
    return lines


def render_markdown() -> str:
    """The configuration reference page."""
    lines = [
        "# Configuration",
        "",
        "<!-- Generated by `python -m exoccm.config`; do not edit by hand. -->",
        "",
        "exoccm reads environment variables. The `EXOSCALE_*` variables are the Go Exoscale "
        "CCM's, with the same meaning, so an existing Deployment keeps working; `EXOCCM_*` "
        "variables configure exoccm itself. Every invalid value is reported at startup, all at "
        "once, each with its variable's name; secrets are never printed.",
        "",
        "Durations take a number of seconds (`30`) or Go syntax (`30s`, `1m30s`, `500ms`).",
        "Empty variables count as unset.",
        "",
        "Where a setting comes from, first match wins:",
        "",
        "1. its environment variable (the first set of its names, in the order listed);",
        "2. the [cloud-config file](#cloud-config-file) (`--cloud-config`, else "
        "`EXOCCM_CLOUD_CONFIG`): its `global` keys for the four API settings that name one, its "
        "`instances` and `loadBalancer` sections;",
        "3. for `EXOCCM_LEADER_ELECTION_NAMESPACE`: `POD_NAMESPACE`, else the Pod's namespace "
        "(the in-cluster ServiceAccount's namespace file);",
        "4. the default below.",
        "",
        "| Variable | Type | Default | Description |",
        "|---|---|---|---|",
    ]
    for info in settings_reference():
        names = "<br>".join(f"`{name}`" for name in info.env)
        description = info.description
        if info.cloud_config:
            description += f" Cloud-config: `{info.cloud_config}`."
        cells = (_cell(info.kind), _cell(info.default), _cell(description))
        lines.append(f"| {names} | {' | '.join(cells)} |")
    lines += ["", *_controllers_section()]
    lines += [
        "",
        "## Credentials",
        "",
        "Set `EXOSCALE_API_KEY` and `EXOSCALE_API_SECRET`, or point "
        "`EXOSCALE_API_CREDENTIALS_FILE` at a JSON file "
        '`{"api_key": "EXO...", "api_secret": "...", "name": "..."}` (a mounted Secret). Key '
        "and secret win over the file. The file's directory is watched: when the Secret is "
        "updated, new requests use the new credentials without a restart, and an invalid file "
        "leaves the previous credentials in use (with a warning that says why).",
        "",
        "## Cloud-config file",
        "",
        "`EXOCCM_CLOUD_CONFIG` names the Go CCM's cloud-config YAML (its `--cloud-config`; "
        "`exoccm run --cloud-config` wins over the variable). Same keys, same meaning. Unknown "
        "keys are ignored, as in the Go CCM, but each is named in a start-up warning with its "
        "path and the key it probably meant (`loadbalancer` for `loadBalancer`). Environment "
        "variables win over its `global` section.",
        "",
        _CLOUD_CONFIG_EXAMPLE,
        "## Start-up warnings",
        "",
        "Valid but suspicious settings do not stop exoccm: it logs a `Configuration warning` "
        "for each, and `exoccm doctor` lists them under its configuration check:",
        "",
        "- a cloud-config key exoccm does not read (see above);",
        "- an API key that does not look like an Exoscale key (`EXO` and 24 lowercase letters "
        "or digits): a copying mistake, or key and secret swapped. The key is never quoted;",
        "- a credentials file every user of the machine may write to (anyone there could "
        "replace the key exoccm signs with): remove the write permission for others;",
        "- `EXOSCALE_API_KEY` and `EXOSCALE_API_SECRET` set together with "
        "`EXOSCALE_API_CREDENTIALS_FILE`, which is then ignored;",
        "- a zone this release does not know (it is used anyway).",
    ]
    return "\n".join(lines).rstrip("\n") + "\n"


def main() -> None:
    """Write the reference to ``docs/configuration.md`` (run from the repository root)."""
    Path("docs/configuration.md").write_text(render_markdown(), encoding="utf-8")
