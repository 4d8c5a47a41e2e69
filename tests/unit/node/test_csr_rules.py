"""The kubelet-serving CSR rules, on real PKCS#10 requests."""

from __future__ import annotations

import base64
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from exoccm.controllers.node.csr import project_csr
from exoccm.controllers.node.csr_rules import (
    KUBELET_SERVING_SIGNER,
    allowed_ips,
    instance_problems,
    is_decided,
    is_kubelet_serving,
    review_request,
)
from exoccm.controllers.node.metadata import PROVIDED_NODE_IP
from exoccm.exoscale.models import Instance, PrivateNetworkAttachment

from .csrs import b64, kubelet_csr_pem

NODE = "pool-abc12"
ID = "5f4b3d7e-1c2a-4b8e-9f00-0123456789ab"
IP4 = "203.0.113.10"
IP6 = "2001:db8::10"
PRIVATE = (PrivateNetworkAttachment(id="0b5c6c5e-7d0a-4f43-9d8e-2a2f0c6f8a11"),)
INSTANCE = Instance.model_validate({"id": ID, "name": NODE, "public-ip": IP4, "ipv6-address": IP6})


def csr(
    pem: bytes | None = None,
    *,
    username: str = f"system:node:{NODE}",
    groups: tuple[str, ...] = ("system:nodes", "system:authenticated"),
    usages: tuple[str, ...] = ("digital signature", "server auth"),
    signer: str = KUBELET_SERVING_SIGNER,
    request: str | None = None,
) -> dict[str, Any]:
    pem = pem if pem is not None else kubelet_csr_pem(NODE, dns=[NODE], ips=[IP4])
    return {
        "metadata": {"name": "csr-1"},
        "spec": {
            "request": request if request is not None else b64(pem),
            "signerName": signer,
            "username": username,
            "groups": list(groups),
            "usages": list(usages),
        },
    }


def test_valid_request() -> None:
    request, problems = review_request(csr())
    assert problems == []
    assert request is not None
    assert request.node_name == NODE
    assert request.dns_name == NODE
    assert [str(ip) for ip in request.ip_addresses] == [IP4]
    assert instance_problems(request, INSTANCE, None) == []


def test_key_encipherment_is_optional_but_nothing_else() -> None:
    ok = ("digital signature", "key encipherment", "server auth")
    assert review_request(csr(usages=ok))[1] == []
    for usages in (
        ("server auth",),
        ("digital signature", "server auth", "client auth"),
        ("digital signature", "client auth"),
        ("digital signature", "key encipherment"),
    ):
        assert any("usages" in p for p in review_request(csr(usages=usages))[1]), usages


def test_requester_must_be_a_node_in_both_groups() -> None:
    assert any("not by a node" in p for p in review_request(csr(username="alice"))[1])
    for groups in (("system:authenticated",), ("system:nodes",), ()):
        problems = review_request(csr(groups=groups))[1]
        assert any("lacks group" in p for p in problems), groups


def test_subject_must_match_requester() -> None:
    other = kubelet_csr_pem(NODE, dns=[NODE], common_name="system:node:other")
    assert any("CN" in p for p in review_request(csr(other))[1])
    no_org = kubelet_csr_pem(NODE, dns=[NODE], organization=None)
    assert any("subject O" in p for p in review_request(csr(no_org))[1])


def test_exactly_one_dns_name_and_no_email() -> None:
    for dns in ([], [NODE, "x.example"]):
        problems = review_request(csr(kubelet_csr_pem(NODE, dns=dns, ips=[IP4])))[1]
        assert any("exactly 1 DNS" in p for p in problems), dns
    email = kubelet_csr_pem(NODE, dns=[NODE], emails=["a@example.com"])
    assert any("e-mail" in p for p in review_request(csr(email))[1])


def test_unparsable_requests() -> None:
    assert "not base64" in review_request(csr(request="%%%"))[1][0]
    not_pem = base64.b64encode(b"hello").decode()
    assert "PEM" in review_request(csr(request=not_pem))[1][0]
    garbage = base64.b64encode(
        b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"
    ).decode()
    assert "does not parse" in review_request(csr(request=garbage))[1][0]


def test_tampered_request_signature_is_refused() -> None:
    pem = kubelet_csr_pem(NODE, dns=[NODE], ips=[IP4])
    der = bytearray(base64.b64decode(b"".join(pem.splitlines()[1:-1])))
    der[-5] ^= 0x01  # a bit of the signature
    body = base64.encodebytes(bytes(der))
    tampered = (
        b"-----BEGIN CERTIFICATE REQUEST-----\n" + body + b"-----END CERTIFICATE REQUEST-----\n"
    )
    problems = review_request(csr(tampered))[1]
    assert problems, "a request whose signature does not verify must be refused"


def test_dns_name_compared_case_insensitively() -> None:
    request, _ = review_request(csr(kubelet_csr_pem(NODE, dns=[NODE.upper()], ips=[IP4])))
    assert request is not None
    assert instance_problems(request, INSTANCE, None) == []
    wrong, _ = review_request(csr(kubelet_csr_pem(NODE, dns=["evil"], ips=[IP4])))
    assert wrong is not None
    assert any("evil" in p for p in instance_problems(wrong, INSTANCE, None))


def test_provided_node_ip_allowed_only_with_private_network() -> None:
    node = {"metadata": {"annotations": {PROVIDED_NODE_IP: "10.0.0.7,fd00::7"}}}
    assert {str(ip) for ip in allowed_ips(INSTANCE, node)} == {IP4, IP6}
    private = INSTANCE.model_copy(update={"private_networks": PRIVATE})
    assert {str(ip) for ip in allowed_ips(private, node)} == {IP4, IP6, "10.0.0.7", "fd00::7"}


candidate_ips = st.sampled_from([IP4, IP6, "2001:DB8:0:0::10", "192.0.2.42", "2001:db8::dead:beef"])


@given(st.lists(candidate_ips, max_size=4, unique=True))
def test_ip_sans_approved_iff_all_are_instance_addresses(ips: list[str]) -> None:
    request, problems = review_request(csr(kubelet_csr_pem(NODE, dns=[NODE], ips=ips)))
    assert request is not None, problems
    foreign = {"192.0.2.42", "2001:db8::dead:beef"} & set(ips)
    assert bool(instance_problems(request, INSTANCE, None)) == bool(foreign)


def test_projection_and_state() -> None:
    raw = csr()
    raw["metadata"].update({"uid": "u", "resourceVersion": "7", "managedFields": [{}]})
    raw["spec"]["extra"] = {"a": ["b"]}
    raw["status"] = {"conditions": [{"type": "Approved", "status": "True", "reason": "x"}]}
    projected = project_csr(raw)
    assert projected["metadata"] == {"name": "csr-1", "uid": "u", "resourceVersion": "7"}
    assert "extra" not in projected["spec"]
    assert projected["spec"]["request"] == raw["spec"]["request"]
    assert projected["status"] == {"conditions": [{"type": "Approved", "status": "True"}]}
    assert is_decided(projected)
    assert not is_decided(project_csr(csr()))
    assert is_kubelet_serving(projected)
    assert not is_kubelet_serving(csr(signer="kubernetes.io/kube-apiserver-client-kubelet"))
