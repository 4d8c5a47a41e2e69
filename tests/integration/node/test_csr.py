"""Kubelet serving CSR approval, case by case, with real CSRs created as impersonated kubelets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest
import structlog

from exoccm.controllers.node.csr_rules import (
    APPROVAL_MESSAGE,
    APPROVAL_REASON,
    KUBELET_SERVING_SIGNER,
)
from exoccm.controllers.node.metadata import PROVIDED_NODE_IP
from exoccm.kube.objects import Obj
from exoccm.kube.resources import CSRS
from tests.unit.node.csrs import b64, kubelet_csr_pem

from .conftest import (
    TEST_LABEL,
    ZONE,
    NodeWorld,
    config_for,
    ensure_csr_rbac,
    impersonating,
    running,
    until,
)

pytestmark = pytest.mark.anyio

SERVING = ["digital signature", "server auth"]
NODE_GROUPS = ["system:nodes"]


async def submit(
    world: NodeWorld,
    name: str,
    pem: bytes,
    *,
    user: str,
    groups: list[str] = NODE_GROUPS,
    signer: str = KUBELET_SERVING_SIGNER,
    usages: list[str] = SERVING,
) -> None:
    body = {
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"name": world.name(name), "labels": {TEST_LABEL: world.tag}},
        "spec": {"request": b64(pem), "signerName": signer, "usages": usages},
    }
    async with impersonating(world.plane, user, groups) as client:
        response = await client.post(CSRS.path(), json=body)
    assert response.status_code == 201, response.text
    world.created_csrs.append(world.name(name))


async def conditions(world: NodeWorld, name: str) -> list[Obj]:
    csr = await world.kube.get(CSRS.path(name=world.name(name)))
    return list((csr.get("status") or {}).get("conditions") or [])


def reviewed(logs: Sequence[Mapping[str, Any]], csr: str) -> bool:
    return any(e["event"] == "Left CSR pending" and e.get("csr") == csr for e in logs)


async def test_csr_approval_case_by_case(world: NodeWorld) -> None:
    await ensure_csr_rbac(world.kube)
    sim = world.sim
    plain = sim.add_instance(ZONE, world.name("plain"), ipv6="auto")
    private = sim.add_instance(ZONE, world.name("private"), private_networks=1)
    # "plain" is registered and initialized: found by providerID. "private" is found by name.
    await world.create_node("plain", provider_id=f"exoscale://{plain['id']}")
    await world.create_node("private", annotations={PROVIDED_NODE_IP: "10.0.0.7"})
    node = world.name("plain")
    user = f"system:node:{node}"
    ip4, ip6 = plain["public-ip"], plain["ipv6-address"]

    Cases = dict[str, tuple[bytes, dict[str, Any]]]
    approve: Cases = {
        "good": (kubelet_csr_pem(node, dns=[node], ips=[ip4]), {}),
        # Case-insensitive name, both public addresses, key encipherment allowed.
        "good-upper": (
            kubelet_csr_pem(node, dns=[node.upper()], ips=[ip4, ip6]),
            {"usages": ["digital signature", "key encipherment", "server auth"]},
        ),
        "good-private": (
            kubelet_csr_pem(
                world.name("private"),
                dns=[world.name("private")],
                ips=["10.0.0.7", private["public-ip"]],
            ),
            {"user": f"system:node:{world.name('private')}"},
        ),
    }
    refuse: Cases = {
        "wrong-signer": (
            kubelet_csr_pem(node, dns=[node], ips=[ip4]),
            {"signer": "example.com/serving"},
        ),
        "wrong-user": (
            kubelet_csr_pem(node, dns=[node], ips=[ip4], common_name="alice"),
            {"user": "alice"},
        ),
        "no-nodes-group": (kubelet_csr_pem(node, dns=[node], ips=[ip4]), {"groups": []}),
        "two-dns": (kubelet_csr_pem(node, dns=[node, "other.example"], ips=[ip4]), {}),
        "no-dns": (kubelet_csr_pem(node, ips=[ip4]), {}),
        "wrong-dns": (kubelet_csr_pem(node, dns=["evil.example"], ips=[ip4]), {}),
        "foreign-ipv4": (kubelet_csr_pem(node, dns=[node], ips=[ip4, "192.0.2.42"]), {}),
        "foreign-ipv6": (kubelet_csr_pem(node, dns=[node], ips=["2001:db8::dead:beef"]), {}),
        # Without a private network the kubelet's --node-ip is no address of the instance.
        "private-ip-no-network": (kubelet_csr_pem(node, dns=[node], ips=["10.0.0.7"]), {}),
        "client-auth": (
            kubelet_csr_pem(node, dns=[node], ips=[ip4]),
            {"usages": ["digital signature", "server auth", "client auth"]},
        ),
        "wrong-org": (kubelet_csr_pem(node, dns=[node], ips=[ip4], organization="evil"), {}),
        "email-san": (
            kubelet_csr_pem(node, dns=[node], ips=[ip4], emails=["root@example.com"]),
            {},
        ),
        "unknown-node": (
            kubelet_csr_pem("ghost", dns=["ghost"], ips=[ip4]),
            {"user": "system:node:ghost"},
        ),
    }
    with structlog.testing.capture_logs() as logs:
        async with running(world, config_for(enabled=frozenset({"csr"}))):
            for cases in (refuse, approve):
                for name, (pem, options) in cases.items():
                    await submit(world, name, pem, user=options.pop("user", user), **options)
            expected = {world.name(n) for n in refuse} - {world.name("wrong-signer")}

            async def all_decided() -> bool:
                for name in approve:
                    if not await conditions(world, name):
                        return False
                return all(reviewed(logs, csr) for csr in expected)

            await until(all_decided)

    for name in approve:
        [condition] = await conditions(world, name)
        assert condition["type"] == "Approved", name
        assert condition["status"] == "True"
        assert condition["reason"] == APPROVAL_REASON
        assert condition["message"] == APPROVAL_MESSAGE
    for name in refuse:
        assert await conditions(world, name) == [], name  # pending, never denied
    why = {e["csr"]: " ".join(e["reasons"]) for e in logs if e["event"] == "Left CSR pending"}
    assert "not by a node" in why[world.name("wrong-user")]
    assert "system:nodes" in why[world.name("no-nodes-group")]
    assert "exactly 1 DNS" in why[world.name("two-dns")]
    assert "evil.example" in why[world.name("wrong-dns")]
    assert "192.0.2.42" in why[world.name("foreign-ipv4")]
    assert "2001:db8::dead:beef" in why[world.name("foreign-ipv6")]
    assert "usages" in why[world.name("client-auth")]
    assert "ghost" in why[world.name("unknown-node")]
    assert world.sim.count("get-instance") == 0  # listings, not one call per CSR
