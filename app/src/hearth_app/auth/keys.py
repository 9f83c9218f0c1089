"""Signing keys: Ed25519, stored encrypted in PostgreSQL, rotated, published as JWKS.

The newest unretired key signs. Retired keys keep verifying until every token they signed
has expired (``verify_until``), then drop out of the JWKS.

Replicas agree at once, with PostgreSQL as the only truth: before signing, a replica checks in
the same transaction that its key is still the active one (:meth:`KeyRing.sync_signer`); a
token naming a kid it does not know makes it reload (:meth:`KeyRing.learn`, rate-limited so
made-up kids cannot hammer the database). Verifying a token with a known kid costs no I/O.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import secrets
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from jwt.algorithms import OKPAlgorithm
from sqlalchemy import or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hearth_app.auth.models import SigningKey
from hearth_app.core.db import utcnow

log = logging.getLogger("hearth.keys")
ALG = "EdDSA"
_LOCK_ID = 0x48454152  # pg advisory lock: one replica creates or rotates at a time
# Reloads caused by unknown kids, per process: a burst of 3, then one a second. A key rotated in
# elsewhere needs one; a stream of made-up kids costs the database at most this.
MISS_RELOAD_BURST = 3
MISS_RELOADS_PER_SECOND = 1.0
MAX_KID_LENGTH = 64  # signing_keys.kid


@dataclass
class KeyRing:
    secret: bytes
    signing_kid: str | None = None
    signing_key: Ed25519PrivateKey | None = None
    verify_keys: dict[str, Ed25519PublicKey] = field(default_factory=dict)
    jwks_doc: dict[str, Any] = field(default_factory=lambda: {"keys": []})
    loaded_at: float = 0.0
    # How often the ring was (re)loaded from PostgreSQL.
    loads: int = 0
    _maker: async_sessionmaker[AsyncSession] | None = field(default=None, repr=False)
    _miss_lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)
    _miss_tokens: float = MISS_RELOAD_BURST
    _miss_at: float = 0.0

    @classmethod
    def from_secret(cls, secret: str) -> KeyRing:
        return cls(secret=hashlib.sha256(secret.encode()).digest())

    def _encrypt(self, kid: str, der: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + AESGCM(self.secret).encrypt(nonce, der, kid.encode())

    def _decrypt(self, kid: str, blob: bytes) -> bytes:
        return AESGCM(self.secret).decrypt(blob[:12], blob[12:], kid.encode())

    def _new_row(self) -> SigningKey:
        key = Ed25519PrivateKey.generate()
        kid = secrets.token_urlsafe(12)
        jwk = json.loads(OKPAlgorithm.to_jwk(key.public_key()))
        jwk.update({"kid": kid, "alg": ALG, "use": "sig"})
        der = key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return SigningKey(kid=kid, alg=ALG, private_key_enc=self._encrypt(kid, der), public_jwk=jwk)

    async def load(
        self,
        maker: async_sessionmaker[AsyncSession],
        *,
        rotation: timedelta | None = None,
        access_ttl: timedelta | None = None,
    ) -> None:
        """Read live keys; create the first one, or rotate an old one, under a lock."""
        self._maker = maker
        async with maker() as s:
            rows = await self._live(s)
        active = [r for r in rows if r.retired_at is None]
        too_old = bool(rotation and active and utcnow() - active[0].created_at > rotation)
        if not active or too_old:
            async with maker() as s:
                async with s.begin():
                    await s.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK_ID})
                    rows = await self._live(s)
                    active = [r for r in rows if r.retired_at is None]
                    if not active:
                        s.add(self._new_row())
                    elif rotation and utcnow() - active[0].created_at > rotation:
                        await self._rotate_in(s, access_ttl or timedelta(minutes=15))
                rows = await self._live(s)
        self._install(rows)

    async def rotate(self, maker: async_sessionmaker[AsyncSession], access_ttl: timedelta) -> str:
        self._maker = maker
        async with maker() as s:
            async with s.begin():
                await s.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK_ID})
                kid = await self._rotate_in(s, access_ttl)
            self._install(await self._live(s))
        return kid

    async def sync_signer(self, s: AsyncSession) -> None:
        """Before signing: reload if another replica rotated, so a retired key never signs.

        One small query, in the caller's transaction.
        """
        active = await s.scalar(
            select(SigningKey.kid)
            .where(SigningKey.retired_at.is_(None))
            .order_by(SigningKey.created_at.desc())
            .limit(1)
        )
        if active != self.signing_kid:
            self._install(await self._live(s))

    async def learn(self, kid: str) -> bool:
        """Whether ``kid`` is in the ring, after a reload if it was not (rate-limited)."""
        if kid in self.verify_keys:
            return True
        if self._maker is None or len(kid) > MAX_KID_LENGTH:
            return False
        async with self._miss_lock:
            # A reload made while this one waited may have brought it.
            if kid in self.verify_keys:
                return True
            if not self._take_miss_token():
                return False
            async with self._maker() as s:
                self._install(await self._live(s))
        return kid in self.verify_keys

    def _take_miss_token(self) -> bool:
        now = time.monotonic()
        refill = (now - self._miss_at) * MISS_RELOADS_PER_SECOND
        self._miss_tokens = min(MISS_RELOAD_BURST, self._miss_tokens + refill)
        self._miss_at = now
        if self._miss_tokens < 1:
            return False
        self._miss_tokens -= 1
        return True

    async def _rotate_in(self, s: AsyncSession, access_ttl: timedelta) -> str:
        now = utcnow()
        for row in (await s.scalars(select(SigningKey).where(SigningKey.retired_at.is_(None)))).all():
            row.retired_at = now
            # A minute of slack for clock skew between replicas.
            row.verify_until = now + access_ttl + timedelta(seconds=60)
        new = self._new_row()
        s.add(new)
        log.info("signing key rotated", extra={"kid": new.kid})
        return new.kid

    async def _live(self, s: AsyncSession) -> list[SigningKey]:
        q = (
            select(SigningKey)
            .where(or_(SigningKey.verify_until.is_(None), SigningKey.verify_until > utcnow()))
            .order_by(SigningKey.created_at.desc())
        )
        return list((await s.scalars(q)).all())

    def _install(self, rows: list[SigningKey]) -> None:
        verify: dict[str, Ed25519PublicKey] = {}
        jwks: list[dict[str, Any]] = []
        signing: tuple[str, Ed25519PrivateKey] | None = None
        for r in rows:
            if r.alg != ALG:
                continue
            pub = OKPAlgorithm.from_jwk(json.dumps(r.public_jwk))
            if not isinstance(pub, Ed25519PublicKey):
                continue
            verify[r.kid] = pub
            jwks.append(r.public_jwk)
            if r.retired_at is None and signing is None:
                try:
                    der = self._decrypt(r.kid, r.private_key_enc)
                except InvalidTag as exc:
                    raise RuntimeError(
                        f"cannot decrypt signing key {r.kid}: HEARTH_AUTH_KEY_ENCRYPTION_SECRET is not "
                        "the one that created it (every replica needs the same secret)"
                    ) from exc
                priv = serialization.load_der_private_key(der, None)
                assert isinstance(priv, Ed25519PrivateKey)
                signing = (r.kid, priv)
        self.verify_keys = verify
        self.jwks_doc = {"keys": jwks}
        # No active key means nothing may sign, not that the last one goes on.
        self.signing_kid, self.signing_key = signing or (None, None)
        self.loaded_at = time.monotonic()
        self.loads += 1
