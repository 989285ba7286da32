"""JWT access tokens (PyJWT): what ``POST /auth/token`` hands out and every route checks.

Claims: ``sub`` (username), ``role``, ``tenant``, ``jti`` (a random id, so a token can be
revoked), ``gen`` (the generation of the user's credentials it was issued for, see
``credential_generation``), ``iat``, ``nbf``, ``exp``, ``aud``. Times are checked here
against an injectable clock (PyJWT's own checks use the system clock, which a test cannot
move), with a small leeway for clocks of several replicas that disagree a little.

API tokens for CI are not JWTs: they are random strings with the ``API_TOKEN_PREFIX``, stored
hashed (``api_tokens.py``); ``looks_like_api_token`` tells them apart.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from leoflow.engine.auth.permissions import Principal

LEEWAY = timedelta(seconds=30)
REQUIRED_CLAIMS = ("sub", "role", "tenant", "jti", "gen", "iat", "nbf", "exp", "aud")


class TokenError(Exception):
    """Why a token is refused: ``expired`` (401 "Token Expired") or not (403)."""

    def __init__(self, reason: str, *, expired: bool = False) -> None:
        super().__init__(reason)
        self.expired = expired


@dataclass(frozen=True)
class AccessClaims:
    principal: Principal
    jti: str
    issued_at: datetime
    expires_at: datetime
    generation: str = ""


class AccessTokens:
    """Issue and verify signed access tokens."""

    def __init__(self, secret: str, *, algorithm: str = "HS256",
                 audience: str = "leoflow") -> None:
        self._secret = secret
        self.algorithm = algorithm
        self.audience = audience

    def credential_generation(self, username: str, password_hash: str) -> str:
        """A digest of the user's stored credentials: it changes when the password changes
        and when the user is deleted and created again (a new argon2 hash has a new salt,
        even for the same password), so a token carrying an older one is refused. Keyed
        with the signing secret: it reveals nothing about the hash."""
        message = b"leoflow-credential-generation\x00" + username.encode(
            "utf-8", "surrogatepass") + b"\x00" + password_hash.encode("utf-8", "surrogatepass")
        digest = hmac.new(self._secret.encode("utf-8"), message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:16]).decode("ascii").rstrip("=")

    def issue(self, principal: Principal, *, now: datetime, lifetime: timedelta,
              generation: str = "") -> tuple[str, AccessClaims]:
        jti = uuid.uuid4().hex
        issued = now.replace(microsecond=0)
        expires = issued + lifetime
        payload = {"sub": principal.username, "role": principal.role,
                   "tenant": principal.tenant, "jti": jti, "gen": generation,
                   "iat": int(issued.timestamp()),
                   "nbf": int(issued.timestamp()), "exp": int(expires.timestamp()),
                   "aud": self.audience}
        import jwt  # at the first token: PyJWT and cryptography cost a server's start 40 ms

        token = jwt.encode(payload, self._secret, algorithm=self.algorithm)
        return token, AccessClaims(principal, jti, issued, expires, generation)

    def verify(self, token: str, *, now: datetime) -> AccessClaims:
        """The claims of a valid token; ``TokenError`` otherwise."""
        import jwt

        try:
            claims = jwt.decode(
                token, self._secret, algorithms=[self.algorithm], audience=self.audience,
                options={"require": list(REQUIRED_CLAIMS), "verify_exp": False,
                         "verify_nbf": False, "verify_iat": False})
        except jwt.PyJWTError as exc:
            raise TokenError(f"invalid token: {exc}") from None
        try:
            principal = Principal(str(claims["sub"]), str(claims["role"]),
                                  str(claims["tenant"]))
            issued = datetime.fromtimestamp(int(claims["iat"]), now.tzinfo)
            not_before = datetime.fromtimestamp(int(claims["nbf"]), now.tzinfo)
            expires = datetime.fromtimestamp(int(claims["exp"]), now.tzinfo)
            jti = str(claims["jti"])
            generation = str(claims["gen"])
        except (TypeError, ValueError, OverflowError, OSError):
            raise TokenError("invalid token: malformed claims") from None
        if now >= expires + LEEWAY:
            raise TokenError("token expired", expired=True)
        if now + LEEWAY < not_before:
            raise TokenError("token not valid yet")
        return AccessClaims(principal, jti, issued, expires, generation)
