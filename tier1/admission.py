"""Who may join the CloudletTable, how trusted they are, and their keepalive terms."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from common.cloudlet import RegistrationRequest
from common.errors import ForbiddenError, UnauthorizedError
from tier1.settings import AdmissionSettings, KeepaliveSettings


@dataclass(frozen=True, slots=True)
class Admission:
    """ST-1's decision about one cloudlet: the trust level is ST-1's, never the cloudlet's."""

    trust_level: int
    operator: str | None


@dataclass(frozen=True, slots=True)
class KeepaliveTerms:
    interval: float
    ttl: float


def admit(policy: AdmissionSettings, request: RegistrationRequest) -> Admission:
    """Admit or decline a registration under `policy`; raises 401/403 when declined."""
    if policy.policy == "open":
        return Admission(trust_level=policy.default_trust_level, operator=request.cloudlet.owner)
    if policy.policy == "token":
        expected = policy.shared_token()
        if not expected:
            raise ForbiddenError("registration is closed: no registration token is configured")
        if request.registration_token is None:
            raise UnauthorizedError("this ST-1 requires a registration token")
        if not hmac.compare_digest(request.registration_token.encode(), expected.encode()):
            raise ForbiddenError("the registration token is not valid")
        return Admission(trust_level=policy.default_trust_level, operator=request.cloudlet.owner)
    for allowed in policy.allowlist:
        if hmac.compare_digest(allowed.public_key, request.cloudlet.public_key):
            return Admission(trust_level=allowed.trust_level, operator=allowed.operator)
    raise ForbiddenError("this cloudlet's key is not on the allow-list")


def negotiate(terms: KeepaliveSettings, requested_interval: float) -> KeepaliveTerms:
    """The interval ST-2 asked for, held within ST-1's bounds, and the TTL that follows."""
    interval = min(max(requested_interval, terms.min_interval), terms.max_interval)
    return KeepaliveTerms(interval=interval, ttl=interval * terms.ttl_multiplier)


def new_credential() -> str:
    """A fresh bearer credential (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def digest(credential: str) -> str:
    """What the table keeps instead of the credential itself."""
    return hashlib.sha256(credential.encode()).hexdigest()


def verify(credential: str | None, expected_digest: str) -> None:
    """Raise 401 without a credential, 403 with one that is not this row's."""
    if not credential:
        raise UnauthorizedError("a cloudlet credential (Authorization: Bearer) is required")
    if not expected_digest or not hmac.compare_digest(digest(credential), expected_digest):
        raise ForbiddenError("this credential does not own that cloudlet's row")
