"""The fault campaign: exoccm under a seeded storm of Service churn, cloud faults and crashes.

``python -m chaos.campaign --duration 300 --seed 1`` (or ``nox -s chaos``) runs two exoccm
replicas against a real kube-apiserver and the Exoscale simulator, injects faults, kills and
restarts things, then lets the system settle and checks that the cloud matches the cluster.
See ``docs/reliability.md``.
"""
