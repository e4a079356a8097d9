"""What the identity provider vouched for in one sign-in: the ID token's claims, read by the rules.

Streamlit's ``st.user`` is the ID token's claims (it never calls the userinfo endpoint). A role is
granted on an e-mail only when the provider says it verified it (``email_verified: true``); a
provider that sends no such claim at all is trusted only where ``[access]`` says so explicitly.
The provider's issuer and ``sub`` name the account: two accounts sharing an e-mail stay apart.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Why a sign-in is refused (the ``code`` of :class:`SignInRefused`, recorded in the log).
NO_EMAIL, EMAIL_NOT_VERIFIED, NO_VERIFIED_CLAIM, PROVIDER_ERROR = (
    "no_email", "email_not_verified", "no_email_verified_claim", "provider_error")
# The claims that change with every sign-in (a new ID token) and are the same in a replayed cookie.
_PER_SIGNIN = ("iat", "nonce", "sid", "auth_time", "exp")


def _verified_flag(value: Any) -> bool | None:
    """``email_verified`` as sent: a bool, or the text "true"/"false" some providers send; None if absent."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None if value is None else False


@dataclass(frozen=True)
class SignIn:
    """One completed sign-in as the provider's ID token states it."""

    issuer: str
    subject: str
    email: str | None
    email_verified: bool | None  # None: the provider sent no ``email_verified`` claim
    signin_id: str  # the same for every request carrying this sign-in's cookie, new for the next sign-in

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> SignIn:
        issuer, subject = str(claims.get("iss") or ""), str(claims.get("sub") or "")
        email = claims.get("email")
        email = email.strip().lower() if isinstance(email, str) and email.strip() else None
        token = {key: claims.get(key) for key in ("iss", "sub", *_PER_SIGNIN)}
        signin_id = hashlib.sha256(json.dumps(token, sort_keys=True, default=str).encode()).hexdigest()[:32]
        return cls(issuer, subject, email, _verified_flag(claims.get("email_verified")), signin_id)

    @property
    def account(self) -> str:
        """The provider's name for the person (``sub`` at the issuer), for the log and the pages."""
        return f"{self.subject or '?'} at {self.issuer or 'an unnamed issuer'}"

    def detail(self) -> dict[str, Any]:
        """What the log records of the sign-in beside the operator."""
        return {"issuer": self.issuer, "sub": self.subject, "email": self.email,
                "email_verified": self.email_verified, "signin_id": self.signin_id}


class SignInRefused(PermissionError):
    """The provider signed someone in, but not with what a role needs; ``reason`` says what to fix."""

    def __init__(self, signin: SignIn, code: str, reason: str) -> None:
        super().__init__(reason)
        self.signin = signin
        self.code = code
        self.reason = reason

    @property
    def operator(self) -> str:
        """Who the log names: never the bare e-mail, which a verified sign-in of its owner uses."""
        if self.signin.email:
            return f"{self.signin.email} (unverified)"
        return f"sub {self.signin.subject or '?'}"


def verified_email(signin: SignIn, *, trust_missing_verified_claim: bool) -> str:
    """The e-mail roles may be granted on, or :class:`SignInRefused` saying why there is none."""
    if not signin.email:
        raise SignInRefused(signin, NO_EMAIL, (
            f"The identity provider signed you in ({signin.account}) but its ID token carries no e-mail. "
            "This console reads only the ID token (Streamlit does not ask the userinfo endpoint), so the "
            "provider's administrator must put the email and email_verified claims in the ID token "
            "(the client asks for the scopes openid, profile and email; some providers send them only "
            "from userinfo unless a claim mapping adds them to the ID token)."))
    if signin.email_verified is False:
        raise SignInRefused(signin, EMAIL_NOT_VERIFIED, (
            f"The identity provider says it has not verified the e-mail {signin.email}, so no role is "
            "granted on it. Verify the address with the provider, then sign in again."))
    if signin.email_verified is None and not trust_missing_verified_claim:
        raise SignInRefused(signin, NO_VERIFIED_CLAIM, (
            f"The identity provider sent the e-mail {signin.email} without saying it verified it "
            "(no email_verified claim), so no role is granted on it. If this provider only ever issues "
            "addresses it owns, an administrator can set trust_email_without_verified_claim = true "
            "under [access]."))
    return signin.email
