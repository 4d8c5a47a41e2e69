"""Leader election on a ``coordination.k8s.io/v1`` Lease, with client-go's algorithm and defaults.

* **Timing.** lease duration 15 s, renew deadline 10 s, retry period 2 s; validated as
  ``lease_duration > renew_deadline > 1.2 · retry_period``.
* **Acquire.** A candidate tries every ``retry_period · [1, 2.2)`` (jittered). It may take the Lease
  when nobody holds it, when it already holds it, or when the record has not changed for
  ``leaseDurationSeconds`` *as observed on our monotonic clock* (the Lease's timestamps are
  written for humans and never trusted: other machines' clocks may be wrong).
* **Renew.** The leader renews every ``retry_period`` with one PUT of its cached Lease (the
  resourceVersion makes it a compare-and-swap); if that fails it falls back to GET + PUT. Every
  request times out after ``renew_deadline / 2``.
* **Loss.** If no renewal succeeds before the renew deadline, the leader work is cancelled at once
  and :meth:`LeaderElector.run` raises :class:`LeadershipLostError`; the process should exit,
  as client-go components do.
* **Displacement.** If a read of the Lease while leading (the fall-back GET after a failed renewal
  PUT, typically a 409) shows another holder, leadership ends at that read, not at the renew
  deadline: the guard refuses from then on and the work is cancelled as on a loss. client-go
  would keep retrying until its deadline. A 409 whose re-read still names us is only a
  concurrent update: the renewal goes on with the fresh resourceVersion, as in client-go.
* **Release.** When the leader work ends (returns, raises or is cancelled) the Lease is released
  (no holder, ``leaseDurationSeconds=1``) so a standby takes over within about a retry period.
  The work has fully stopped by then, so this is safe.

**The fence.** :meth:`LeaderElector.still_leading` is true only while
``monotonic() < t_sent + renew_deadline``, where ``t_sent`` is when the last *successful*
renewal request was sent. The write it made happened after ``t_sent``, so no other candidate can
have observed it before ``t_sent`` and none will take over before ``t_sent + lease_duration``. The
``lease_duration - renew_deadline`` gap (5 s by default) absorbs clock-rate differences and the
duration of one guarded action. Call it right before each cloud mutation. Like client-go, this is
not a fencing token: it narrows the window, idempotent reconciles cover the rest.

Displacement closes the fence without a race: every Lease record we read or write goes through
:meth:`LeaderElector._observe`, which clears the leading flag in the same synchronous step as it
stores a record naming another holder. An asyncio task switch happens only at an ``await``, so no
guard check can run between the read returning and the flag clearing.
"""

from __future__ import annotations

import math
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import anyio
import structlog

from exoccm.engine import metrics
from exoccm.engine.clock import SYSTEM_CLOCK, Clock
from exoccm.kube.client import KubeClient
from exoccm.kube.errors import KubeConflictError, KubeError, KubeNotFoundError
from exoccm.kube.objects import Obj
from exoccm.kube.resources import LEASES

log = structlog.get_logger(__name__)

JITTER_FACTOR = 1.2  # client-go's JitterFactor: retries wait retry_period · [1, 2.2)


class LeadershipLostError(Exception):
    """The Lease was not renewed before the renew deadline, or another holder took it; leader work
    was cancelled. ``holder`` names that other holder ("" when the renewals just failed)."""

    def __init__(self, message: str, holder: str = ""):
        super().__init__(message)
        self.holder = holder


@dataclass(frozen=True)
class LeaderElectionConfig:
    """Which Lease, who we are, and the timing (client-go's defaults)."""

    namespace: str
    name: str
    identity: str
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    release_on_cancel: bool = True

    def __post_init__(self) -> None:
        if not self.identity:
            raise ValueError("leader election needs a non-empty identity (e.g. hostname_uuid)")
        if not self.namespace or not self.name:
            raise ValueError("leader election needs the Lease's namespace and name")
        if self.lease_duration <= self.renew_deadline:
            raise ValueError(
                f"lease duration ({self.lease_duration}s) must be greater than the renew "
                f"deadline ({self.renew_deadline}s)"
            )
        if self.renew_deadline <= JITTER_FACTOR * self.retry_period:
            raise ValueError(
                f"renew deadline ({self.renew_deadline}s) must be greater than "
                f"{JITTER_FACTOR} x the retry period ({self.retry_period}s)"
            )
        if self.retry_period <= 0:
            raise ValueError(f"retry period must be positive (got {self.retry_period}s)")

    @property
    def request_timeout(self) -> float:
        """Per-request timeout: half the renew deadline, so one hung call cannot outlive it."""
        return self.renew_deadline / 2


class LeaderElector:
    """Campaigns for a Lease and runs leader work while holding it.

    Usage::

        elector = LeaderElector(lease_client, LeaderElectionConfig("kube-system", "exoccm", me))
        await elector.run(lead)   # returns when ``lead`` returns; raises LeadershipLostError

    Give it a dedicated :class:`KubeClient` (its own connection pool), so renewals never queue
    behind controller traffic. :meth:`stop` makes a candidate that is not leading give up.
    """

    def __init__(
        self,
        client: KubeClient,
        config: LeaderElectionConfig,
        *,
        clock: Clock = SYSTEM_CLOCK,
        rng: random.Random | None = None,
    ):
        self.client = client
        self.config = config
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._path = LEASES.path(config.namespace, config.name)
        self._collection = LEASES.path(config.namespace)
        self._lease: Obj | None = None  # our last successful write (for the fast path)
        self._observed_spec: Obj | None = None
        self._observed_at = 0.0
        self._renewed_at = -math.inf  # monotonic time the last successful write was sent
        self._leading = False
        self._displaced_by = ""  # the holder a read showed while we led ("" if none yet)
        self._stop = anyio.Event()
        self._status = metrics.LEADER_STATUS.labels(config.name)
        self._slowpath = metrics.LEADER_SLOWPATH.labels(config.name)
        self._status.set(0)
        self._log = log.bind(lease=f"{config.namespace}/{config.name}", identity=config.identity)

    # -- the fence ------------------------------------------------------------------------------

    def still_leading(self) -> bool:
        """True only while our lease is certainly ours (see the module's "fence")."""
        return self._leading and self._clock.monotonic() < (
            self._renewed_at + self.config.renew_deadline
        )

    @property
    def is_leader(self) -> bool:
        return self._leading

    @property
    def observed_holder(self) -> str:
        """The holder in the last Lease record we saw ("" for none)."""
        spec = self._observed_spec or {}
        return str(spec.get("holderIdentity") or "")

    def healthy(self, tolerance: float = 20.0) -> bool:
        """False if we lead but have not renewed for ``lease_duration + tolerance`` (a stuck
        elector); for a liveness probe."""
        if not self._leading:
            return True
        since = self._clock.monotonic() - self._renewed_at
        return since <= self.config.lease_duration + tolerance

    def stop(self) -> None:
        """Give up campaigning: a :meth:`run` still acquiring returns ``None``."""
        self._stop.set()

    # -- running --------------------------------------------------------------------------------

    async def run(self, lead: Callable[[], Awaitable[None]]) -> None:
        """Acquire the Lease, run ``lead()`` while holding it, then release it.

        Returns when ``lead`` returns (or :meth:`stop` is called before acquiring). Raises
        :class:`LeadershipLostError` after cancelling ``lead`` if renewal fails; re-raises
        whatever ``lead`` raises. The Lease is released whenever ``lead`` has ended, except
        after a loss (then it is no longer ours).
        """
        self._displaced_by = ""
        if not await self._acquire():
            return
        lost = False
        failure: Exception | None = None
        try:
            async with anyio.create_task_group() as tg:

                async def renew_then_cancel() -> None:
                    nonlocal lost
                    await self._renew_until_lost()
                    lost = True
                    self._set_leading(False)
                    tg.cancel_scope.cancel()

                tg.start_soon(renew_then_cancel)
                try:
                    await lead()
                except Exception as exc:  # re-raised below, unwrapped from a task group
                    failure = exc
                tg.cancel_scope.cancel()
        finally:
            was_leading = self._leading
            self._set_leading(False)
            if was_leading and not lost and self.config.release_on_cancel:
                with anyio.CancelScope(shield=True):
                    await self._release()
        if lost:
            raise self._lost()
        if failure is not None:
            raise failure

    def _lost(self) -> LeadershipLostError:
        lease = f"{self.config.namespace}/{self.config.name}"
        if self._displaced_by:
            self._log.error(
                "Leadership lost: the Lease names another holder", holder=self._displaced_by
            )
            return LeadershipLostError(
                f"lost Lease {lease} to {self._displaced_by!r}: a renewal found it holding the "
                "Lease; leader work was stopped at once",
                holder=self._displaced_by,
            )
        self._log.error("Leadership lost: the Lease could not be renewed in time")
        return LeadershipLostError(
            f"lost Lease {lease}: no successful renewal within {self.config.renew_deadline}s; "
            "leader work was stopped"
        )

    async def _acquire(self) -> bool:
        self._log.info("Campaigning for leadership")
        last_holder: str | None = None
        while not self._stop.is_set():
            if await self._attempt(self.config.request_timeout):
                self._set_leading(True)
                self._log.info("Became leader")
                return True
            if self.observed_holder != last_holder:
                last_holder = self.observed_holder
                self._log.info("Lease held by another candidate", holder=last_holder or None)
            delay = self.config.retry_period * (1.0 + self._rng.random() * JITTER_FACTOR)
            await self._clock.wait(self._stop, self._clock.monotonic() + delay)
        self._log.info("Stopped campaigning before acquiring")
        return False

    async def _renew_until_lost(self) -> None:
        """Renew every retry period; return when the renew deadline passes without success, or at
        once when a read shows another holder (:meth:`_observe` has then stopped our leading)."""
        cfg = self.config
        while True:
            await self._clock.sleep(cfg.retry_period)
            while True:
                remaining = self._renewed_at + cfg.renew_deadline - self._clock.monotonic()
                if remaining <= 0:
                    return
                if await self._attempt(min(cfg.request_timeout, remaining)):
                    break
                if self._displaced_by:
                    return
                remaining = self._renewed_at + cfg.renew_deadline - self._clock.monotonic()
                await self._clock.sleep(min(cfg.retry_period, max(0.0, remaining)))

    def _set_leading(self, leading: bool) -> None:
        self._leading = leading
        self._status.set(1 if leading else 0)

    # -- one attempt ----------------------------------------------------------------------------

    async def _attempt(self, timeout: float) -> bool:
        """One try to acquire or renew; True when our write went through."""
        try:
            with anyio.fail_after(timeout):
                return await self._try_acquire_or_renew(timeout)
        except TimeoutError:
            self._log.warning("Lease request timed out", timeout=round(timeout, 2))
        except KubeError as exc:
            self._log.warning("Lease request failed", error=str(exc))
        return False

    async def _try_acquire_or_renew(self, timeout: float) -> bool:
        sent = self._clock.monotonic()
        if self._leading and self._lease is not None:
            # Fast path: our cached Lease carries its resourceVersion, so one PUT is a CAS.
            try:
                await self._write("PUT", self._renewed(self._lease, keep_acquired=True), timeout)
            except KubeError as exc:
                self._slowpath.inc()
                self._log.info("Fast-path renewal failed; re-reading the Lease", error=str(exc))
            else:
                self._renewed_at = sent
                return True
        try:
            current = await self.client.request("GET", self._path, timeout=timeout)
        except KubeNotFoundError:
            await self._write("POST", self._new_lease(), timeout)
            self._renewed_at = sent
            return True
        spec: Obj = current.get("spec") or {}
        self._observe(spec, sent)
        if self._displaced_by:
            return False
        holder = spec.get("holderIdentity") or ""
        duration = float(spec.get("leaseDurationSeconds") or self.config.lease_duration)
        if holder and holder != self.config.identity and self._observed_at + duration > sent:
            return False
        try:
            await self._write(
                "PUT", self._renewed(current, keep_acquired=holder == self.config.identity), timeout
            )
        except KubeConflictError:
            return False  # someone else wrote first
        self._renewed_at = sent
        return True

    async def _write(self, method: str, lease: Obj, timeout: float) -> None:
        path = self._collection if method == "POST" else self._path
        written: Obj = await self.client.request(method, path, body=lease, timeout=timeout)
        self._lease = written
        self._observe(written.get("spec") or {}, self._clock.monotonic())

    def _observe(self, spec: Obj, at: float) -> None:
        """Remember a Lease record we read (sent at ``at``) or wrote.

        While we lead, a record naming another holder ends our leadership right here, in the same
        synchronous step as the read returned: no ``await`` separates them, so no other task can
        pass the guard in between. We do not fight back; like any candidate we wait for that
        holder's lease to expire on our clock (judged from ``at``).
        """
        if spec != self._observed_spec:
            self._observed_spec = spec
            self._observed_at = at
        holder = str(spec.get("holderIdentity") or "")
        if self._leading and holder and holder != self.config.identity:
            self._displaced_by = holder
            self._set_leading(False)
            self._log.warning(
                "The Lease names another holder: leader work stops now", holder=holder
            )

    def _new_lease(self) -> Obj:
        now = _micro_time()
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.config.name, "namespace": self.config.namespace},
            "spec": {
                "holderIdentity": self.config.identity,
                "leaseDurationSeconds": self._duration_seconds(),
                "acquireTime": now,
                "renewTime": now,
                "leaseTransitions": 0,
            },
        }

    def _renewed(self, lease: Obj, *, keep_acquired: bool) -> Obj:
        old: Obj = lease.get("spec") or {}
        now = _micro_time()
        spec = {
            **old,
            "holderIdentity": self.config.identity,
            "leaseDurationSeconds": self._duration_seconds(),
            "renewTime": now,
        }
        if not keep_acquired:
            spec["acquireTime"] = now
            spec["leaseTransitions"] = int(old.get("leaseTransitions") or 0) + 1
        return {**lease, "spec": spec}

    def _duration_seconds(self) -> int:
        return max(1, math.ceil(self.config.lease_duration))

    async def _release(self) -> None:
        """Hand the Lease back: no holder, 1 s duration, so a standby takes over at once."""
        if self._lease is None:
            return
        try:
            with anyio.fail_after(self.config.request_timeout):
                await self._put_released()
        except (KubeError, TimeoutError) as exc:
            self._log.warning(
                "Could not release the Lease; standbys take over when it expires", error=str(exc)
            )
            return
        self._lease = None

    async def _put_released(self) -> None:
        lease = self._lease
        for _ in range(3):
            if lease is None:
                return
            spec = dict(lease.get("spec") or {})
            if spec.get("holderIdentity") != self.config.identity:
                return  # someone else holds it now: nothing of ours to release
            spec.update(holderIdentity=None, leaseDurationSeconds=1, renewTime=_micro_time())
            try:
                await self.client.request(
                    "PUT",
                    self._path,
                    body={**lease, "spec": spec},
                    timeout=self.config.request_timeout,
                )
            except KubeConflictError:
                # A renewal cancelled in flight may have landed after we cached the Lease.
                current: Obj = await self.client.request(
                    "GET", self._path, timeout=self.config.request_timeout
                )
                self._observe(current.get("spec") or {}, self._clock.monotonic())
                lease = current
                continue
            self._log.info("Released the Lease")
            return
        raise KubeConflictError(409, "Conflict", "the Lease kept changing", "PUT", self._path)


def _micro_time() -> str:
    """A Kubernetes MicroTime (informational only: never used for decisions)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
