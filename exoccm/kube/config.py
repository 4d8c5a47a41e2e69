"""How to reach the Kubernetes API: kubeconfig files and the in-cluster ServiceAccount.

Deliberately small: exoccm needs the server URL, TLS material and one of bearer token (static,
file-backed with rotation, or from an exec plugin) or client certificate. kubernetes-asyncio's
loader is not used because importing it pulls in the whole generated client (~60 MB RSS).
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
import orjson
import yaml

IN_CLUSTER_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class KubeConfigError(ValueError):
    """The Kubernetes connection settings are missing or malformed."""


@dataclass(frozen=True)
class ExecPlugin:
    """A kubeconfig ``users[].user.exec`` credential plugin."""

    command: str
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    api_version: str = "client.authentication.k8s.io/v1"


#: How long an exec credential plugin may take (client-go has no limit; a hung plugin would stall
#: every request that waits for the token).
EXEC_PLUGIN_TIMEOUT = 60.0
#: A token from an exec plugin is renewed this long before the expiry the plugin announced.
EXEC_TOKEN_EXPIRY_MARGIN = 30.0


@dataclass(frozen=True)
class ExecCredential:
    """A bearer token from an exec plugin; ``expires_at`` is on the monotonic clock."""

    token: str = field(repr=False)
    expires_at: float | None = None


async def run_exec_plugin(
    plugin: ExecPlugin, *, timeout: float = EXEC_PLUGIN_TIMEOUT
) -> ExecCredential:
    """Run ``plugin`` as a subprocess (the event loop keeps serving meanwhile) and read the
    ExecCredential it prints, as client-go's exec authenticator does. A plugin that runs longer
    than ``timeout`` seconds is killed. Raises :class:`KubeConfigError` saying what went wrong."""
    name = repr(plugin.command)
    env = {**os.environ, **dict(plugin.env)}
    env["KUBERNETES_EXEC_INFO"] = orjson.dumps(
        {"apiVersion": plugin.api_version, "kind": "ExecCredential", "spec": {"interactive": False}}
    ).decode()
    try:
        with anyio.fail_after(timeout):
            result = await anyio.run_process([plugin.command, *plugin.args], env=env, check=False)
    except TimeoutError:
        raise KubeConfigError(
            f"kubeconfig exec plugin {name} did not finish within {timeout:g} s and was stopped"
        ) from None
    except OSError as exc:
        raise KubeConfigError(
            f"kubeconfig exec plugin {name} could not be started ({exc.strerror or exc}); "
            "install it or correct users[].user.exec.command in the kubeconfig"
        ) from None
    if result.returncode != 0:
        said = result.stderr.decode(errors="replace").strip().splitlines()
        detail = f": {said[-1][:300]}" if said else ""
        raise KubeConfigError(
            f"kubeconfig exec plugin {name} exited with status {result.returncode}{detail}"
        )
    return _exec_credential(result.stdout, name)


def _exec_credential(stdout: bytes, name: str) -> ExecCredential:
    try:
        status = orjson.loads(stdout)["status"]
        token = str(status["token"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        raise KubeConfigError(
            f"kubeconfig exec plugin {name} did not print an ExecCredential with status.token "
            "(client-certificate credentials from exec plugins are not supported)"
        ) from None
    expiry = status.get("expirationTimestamp")
    if not expiry:
        return ExecCredential(token)
    try:
        remaining = datetime.fromisoformat(str(expiry)).timestamp() - time.time()
    except ValueError:
        raise KubeConfigError(
            f"kubeconfig exec plugin {name} printed an expirationTimestamp that is not an "
            f"RFC 3339 time: {str(expiry)[:64]!r}"
        ) from None
    return ExecCredential(token, time.monotonic() + max(0.0, remaining - EXEC_TOKEN_EXPIRY_MARGIN))


@dataclass(frozen=True)
class KubeConfig:
    """Connection settings. Secrets are kept out of ``repr``."""

    server: str
    ca_data: bytes | None = field(default=None, repr=False)
    insecure_skip_tls_verify: bool = False
    token: str | None = field(default=None, repr=False)
    token_file: Path | None = None
    client_cert_data: bytes | None = field(default=None, repr=False)
    client_key_data: bytes | None = field(default=None, repr=False)
    exec_plugin: ExecPlugin | None = None
    tls_server_name: str | None = None
    namespace: str = "default"

    def ssl_context(self) -> ssl.SSLContext:
        """TLS settings: verification on unless the kubeconfig explicitly turns it off. With a CA
        in the kubeconfig only that CA is trusted, as client-go does (and the system store, ~2.5
        MB of RSS per context, is not loaded)."""
        ctx = ssl.create_default_context(cadata=self.ca_data.decode() if self.ca_data else None)
        if self.insecure_skip_tls_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if self.client_cert_data and self.client_key_data:
            _load_client_cert(ctx, self.client_cert_data, self.client_key_data)
        return ctx


def _load_client_cert(ctx: ssl.SSLContext, cert: bytes, key: bytes) -> None:
    # ssl can only read key material from files: write private temporary files, load, delete.
    with tempfile.TemporaryDirectory(prefix="exoccm-tls-") as tmp:
        cert_path = Path(tmp) / "tls.crt"
        key_path = Path(tmp) / "tls.key"
        for path, data in ((cert_path, cert), (key_path, key)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
        ctx.load_cert_chain(str(cert_path), str(key_path))


def _data_or_file(entry: dict[str, Any], key: str, base: Path) -> bytes | None:
    data = entry.get(f"{key}-data")
    if data:
        try:
            return base64.b64decode(data)
        except ValueError as exc:
            raise KubeConfigError(f"kubeconfig field {key}-data is not valid base64") from exc
    path = entry.get(key)
    if path:
        file = Path(path) if Path(path).is_absolute() else base / path
        try:
            return file.read_bytes()
        except OSError as exc:
            raise KubeConfigError(f"kubeconfig field {key}: cannot read {file}: {exc}") from exc
    return None


def _named(items: list[dict[str, Any]] | None, name: str, what: str) -> dict[str, Any]:
    for item in items or []:
        if item.get("name") == name:
            value = item.get(what)
            return value if isinstance(value, dict) else {}
    raise KubeConfigError(f"kubeconfig has no {what} named {name!r}")


def from_kubeconfig(path: Path, context: str | None = None) -> KubeConfig:
    """Parse a kubeconfig file (the current context unless ``context`` is given)."""
    try:
        doc = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise KubeConfigError(f"cannot read kubeconfig {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise KubeConfigError(f"kubeconfig {path} is not valid YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise KubeConfigError(f"kubeconfig {path} is not a mapping")
    name = context or doc.get("current-context")
    if not name:
        raise KubeConfigError(f"kubeconfig {path} has no current-context; pass a context name")
    ctx = _named(doc.get("contexts"), name, "context")
    cluster = _named(doc.get("clusters"), ctx.get("cluster", ""), "cluster")
    user = _named(doc.get("users"), ctx.get("user", ""), "user") if ctx.get("user") else {}
    server = cluster.get("server")
    if not server:
        raise KubeConfigError(f"kubeconfig {path}: cluster of context {name!r} has no server")
    base = path.parent
    exec_plugin = None
    if isinstance(user.get("exec"), dict):
        spec = user["exec"]
        exec_plugin = ExecPlugin(
            command=str(spec.get("command", "")),
            args=tuple(str(a) for a in spec.get("args") or ()),
            env=tuple((str(e["name"]), str(e["value"])) for e in spec.get("env") or ()),
            api_version=str(spec.get("apiVersion", "client.authentication.k8s.io/v1")),
        )
    token_file = user.get("tokenFile")
    return KubeConfig(
        server=str(server).rstrip("/"),
        ca_data=_data_or_file(cluster, "certificate-authority", base),
        insecure_skip_tls_verify=bool(cluster.get("insecure-skip-tls-verify", False)),
        token=user.get("token"),
        token_file=Path(token_file) if token_file else None,
        client_cert_data=_data_or_file(user, "client-certificate", base),
        client_key_data=_data_or_file(user, "client-key", base),
        exec_plugin=exec_plugin,
        tls_server_name=cluster.get("tls-server-name"),
        namespace=str(ctx.get("namespace") or "default"),
    )


def in_cluster(directory: Path = IN_CLUSTER_DIR) -> KubeConfig:
    """The Pod's ServiceAccount: projected token (re-read as it rotates), CA and namespace."""
    host = os.environ.get("KUBERNETES_SERVICE_HOST")
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    if not host:
        raise KubeConfigError("not running in a cluster: KUBERNETES_SERVICE_HOST is not set")
    token_file = directory / "token"
    if not token_file.is_file():
        raise KubeConfigError(f"not running in a cluster: {token_file} does not exist")
    if ":" in host:
        host = f"[{host}]"
    namespace_file = directory / "namespace"
    namespace = namespace_file.read_text().strip() if namespace_file.is_file() else "default"
    return KubeConfig(
        server=f"https://{host}:{port}",
        ca_data=(directory / "ca.crt").read_bytes(),
        token_file=token_file,
        namespace=namespace,
    )


def load(kubeconfig: Path | None = None, context: str | None = None) -> KubeConfig:
    """``kubeconfig`` if given, else in-cluster when in a Pod, else ``$KUBECONFIG`` or ~/.kube/config."""
    if kubeconfig is not None:
        return from_kubeconfig(kubeconfig, context)
    if os.environ.get("KUBERNETES_SERVICE_HOST") and (IN_CLUSTER_DIR / "token").is_file():
        return in_cluster()
    env = os.environ.get("KUBECONFIG")
    candidate = Path(env.split(os.pathsep)[0]) if env else Path.home() / ".kube" / "config"
    if candidate.is_file():
        return from_kubeconfig(candidate, context)
    raise KubeConfigError(
        "no Kubernetes configuration: not in a cluster, and no kubeconfig "
        f"(--kubeconfig, $KUBECONFIG or {candidate})"
    )
