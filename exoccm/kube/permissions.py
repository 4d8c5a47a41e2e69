"""A Kubernetes permission: one verb on one resource (or subresource), maybe limited to a
namespace or an object name, as a SubjectAccessReview asks about it."""

from __future__ import annotations

from dataclasses import dataclass

from exoccm.kube.resources import Resource


@dataclass(frozen=True)
class Permission:
    verb: str
    resource: str
    group: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""

    def __str__(self) -> str:
        what = self.resource + (f"/{self.subresource}" if self.subresource else "")
        if self.group:
            what += f".{self.group}"
        where = f" in namespace {self.namespace}" if self.namespace else ""
        named = f" named {self.name}" if self.name else ""
        return f"{self.verb} {what}{named}{where}"


def permissions(verbs: str, resource: Resource, **where: str) -> tuple[Permission, ...]:
    """One permission per word of ``verbs`` on ``resource`` (with ``subresource``, ``namespace``
    or ``name`` from ``where``)."""
    return tuple(
        Permission(verb, resource.plural, group=resource.group, **where) for verb in verbs.split()
    )
