"""Who may call what: roles, the policy that maps caller identities to them, and the check.

Pure: no I/O. The servicer (:mod:`verifier.service`) takes a caller's certificate
identities and address from the call and asks :meth:`AuthorizationPolicy.caller` for a
:class:`Caller`; each RPC then calls :meth:`Caller.require` (PERMISSION_DENIED with a one-line
reason when the role does not allow it) and, where data belongs to facilities,
:meth:`Caller.require_facility`.

Identities are client certificates under mutual TLS (``[tls] client_ca_file``): gRPC's peer
identity, that is the certificate's subject alternative names or, without any, its subject
common name. A caller without a mapped certificate is *anonymous*.

What each role may do (docs/authorization.md says why):

=========  ===============================================================================
role       may
=========  ===============================================================================
public     read what the treaty makes public: the current challenge, checkpoints, inclusion
           and consistency proofs, and (``public_verdicts``, default) signed verdicts;
           submit signed reports and documents while ``open_submissions`` (default), since
           the node, lab or party signature inside is what authorizes a submission
attestor   public + submit reports — only for its ``facilities``
lab        public + submit inventories and commitments signed by its own lab (``lab_id``),
           read verdicts of its facilities, watch its facilities' alerts
party      public + submit terms, read every verdict
auditor    public + read raw log entries (per-GPU telemetry, inventories), every verdict,
           watch alerts (of its ``facilities``, or all)
operator   everything
=========  ===============================================================================

Raw entries and alert streams are never public: entries carry per-GPU telemetry, GPU UUIDs and
node keys; alerts name facilities in real time. Auditors get the entries (or an offline bundle).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from verifier.errors import PermissionDeniedError

__all__ = [
    "ANONYMOUS",
    "Action",
    "AuthorizationPolicy",
    "Caller",
    "IdentityGrant",
    "Role",
]

ANONYMOUS: Final = "anonymous"


class Role(enum.StrEnum):
    PUBLIC = "public"
    ATTESTOR = "attestor"
    LAB = "lab"
    PARTY = "party"
    AUDITOR = "auditor"
    OPERATOR = "operator"


class Action(enum.StrEnum):
    READ_LOG = "read the challenge, checkpoints and proofs"
    READ_VERDICTS = "read verdicts"
    READ_ENTRIES = "read raw log entries"
    WATCH_ALERTS = "watch alerts"
    SUBMIT_REPORTS = "submit reports"
    SUBMIT_LAB_DOCUMENTS = "submit inventories and commitments"
    SUBMIT_TERMS = "submit terms"


_SUBMISSIONS: Final = frozenset({Action.SUBMIT_REPORTS, Action.SUBMIT_LAB_DOCUMENTS, Action.SUBMIT_TERMS})
_PUBLIC: Final = frozenset({Action.READ_LOG})
_GRANTS: Final[Mapping[Role, frozenset[Action]]] = {
    Role.PUBLIC: _PUBLIC,
    Role.ATTESTOR: _PUBLIC | {Action.SUBMIT_REPORTS},
    Role.LAB: _PUBLIC | {Action.SUBMIT_LAB_DOCUMENTS, Action.READ_VERDICTS, Action.WATCH_ALERTS},
    Role.PARTY: _PUBLIC | {Action.SUBMIT_TERMS, Action.READ_VERDICTS},
    Role.AUDITOR: _PUBLIC | {Action.READ_VERDICTS, Action.READ_ENTRIES, Action.WATCH_ALERTS},
    Role.OPERATOR: frozenset(Action),
}
# who the denial message sends the caller to
_WHO: Final[Mapping[Action, str]] = {
    a: ", ".join(r.value for r in Role if r is not Role.PUBLIC and a in _GRANTS[r]) for a in Action
}


@dataclass(frozen=True)
class IdentityGrant:
    """One ``[[authorization.identities]]`` entry: a certificate identity and its role.
    ``facilities`` empty: every facility (only for auditor and operator); a lab's are its
    ``[[labs]]`` entry's."""

    name: str
    role: Role
    facilities: frozenset[str] = frozenset()
    lab_id: str = ""


@dataclass(frozen=True)
class Caller:
    """Who is calling, as the policy sees it. ``facilities`` None: not limited to any."""

    identity: str
    role: Role
    actions: frozenset[Action]
    facilities: frozenset[str] | None = None
    lab_id: str = ""
    scoped_verdicts: bool = False  # verdicts are not public: only its facilities'

    def may(self, action: Action) -> bool:
        return action in self.actions

    def require(self, action: Action, method: str) -> None:
        """Return, or raise PermissionDeniedError naming the method, the identity and the roles
        that may."""
        if action not in self.actions:
            raise PermissionDeniedError(
                f"{method}: {self.identity} (role {self.role}) may not {action.value};"
                f" roles that may: {_WHO[action]} ([authorization] in the verifier config)"
            )

    def require_facility(self, facility_id: str, method: str) -> None:
        if self.facilities is not None and facility_id not in self.facilities:
            raise PermissionDeniedError(
                f"{method}: {self.identity} (role {self.role}) has no access to facility {facility_id!r}"
            )

    def facility_scope(self, requested: Iterable[str], method: str) -> frozenset[str]:
        """The facilities a read covers: the requested ones (each checked), or, when none is
        requested, all the caller may see (empty: every facility)."""
        wanted = frozenset(requested)
        for f in sorted(wanted):
            self.require_facility(f, method)
        if wanted or self.facilities is None:
            return wanted
        if not self.facilities:  # empty would mean every facility to a filter
            raise PermissionDeniedError(f"{method}: {self.identity} (role {self.role}) has no facilities")
        return self.facilities


@dataclass(frozen=True)
class AuthorizationPolicy:
    """``[authorization]`` of the verifier config. The defaults are the policy of a config
    without the table: anonymous callers (also on loopback) are public, submissions are
    authorized by their signatures, verdicts are public, no identity is mapped."""

    identities: tuple[IdentityGrant, ...] = ()
    open_submissions: bool = True
    public_verdicts: bool = True
    loopback_role: Role = Role.PUBLIC
    max_watch_streams: int = 4  # WatchAlerts streams per identity
    configured: bool = False  # the config has an [authorization] table
    _by_name: dict[str, IdentityGrant] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for grant in self.identities:
            self._by_name[grant.name] = grant

    def caller(
        self,
        identities: Iterable[str],
        *,
        loopback: bool,
        lab_facilities: Mapping[str, tuple[str, ...]],
    ) -> Caller:
        """The caller behind a call: a certificate naming exactly one mapped identity gets that
        identity's role; none mapped: anonymous (public, or ``loopback_role`` on loopback);
        more than one: refused (a certificate must not carry two roles)."""
        grants = {self._by_name[n].name: self._by_name[n] for n in identities if n in self._by_name}
        if len(grants) > 1:
            raise PermissionDeniedError(
                f"the client certificate names {len(grants)} configured identities"
                f" ({', '.join(sorted(grants))}); one certificate, one identity"
            )
        if grants:
            grant = next(iter(grants.values()))
            facilities: frozenset[str] | None = grant.facilities or None
            if grant.role is Role.LAB:
                facilities = frozenset(lab_facilities.get(grant.lab_id, ()))
            return Caller(
                grant.name,
                grant.role,
                self._actions(grant.role),
                facilities,
                grant.lab_id,
                scoped_verdicts=not self.public_verdicts,
            )
        role = self.loopback_role if loopback else Role.PUBLIC
        name = f"{ANONYMOUS}@loopback" if loopback else ANONYMOUS
        shown = sorted(identities)
        if shown:  # a certificate the policy does not map: say which, for the operator
            name += f" (certificate {shown[0]!r}, not in [[authorization.identities]])"
        return Caller(name, role, self._actions(role))

    def _actions(self, role: Role) -> frozenset[Action]:
        actions = _GRANTS[role]
        if self.open_submissions:
            actions |= _SUBMISSIONS
        if self.public_verdicts:
            actions |= {Action.READ_VERDICTS}
        return actions

    def summary(self) -> str:
        """One line for the start-up log: what anonymous callers get."""
        public = sorted(a.value for a in self._actions(Role.PUBLIC))
        line = f"{len(self.identities)} certificate identities mapped; anonymous callers may: " + "; ".join(
            public
        )
        if self.loopback_role is not Role.PUBLIC:
            line += f"; anonymous callers on loopback have role {self.loopback_role}"
        return line
