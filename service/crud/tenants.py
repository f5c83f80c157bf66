"""Tenants and API keys."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.auth import KEY_PREFIX, generate_key, hash_key
from service.db.models import ApiKey, Tenant
from service.ids import new_id


def get_or_create_tenant(session: Session, name: str) -> Tenant:
    tenant = session.scalar(select(Tenant).where(Tenant.name == name))
    if tenant is None:
        tenant = Tenant(id=new_id("ten"), name=name)
        session.add(tenant)
        session.flush()
    return tenant


def add_key(session: Session, tenant: Tenant, key: str | None = None) -> str:
    """Store a key for `tenant` (a new random one unless given) and return it; flushes."""
    key = key or generate_key()
    prefix_len = len(KEY_PREFIX) + 6
    session.add(
        ApiKey(id=new_id("key"), tenant_id=tenant.id, key_hash=hash_key(key), prefix=key[:prefix_len])
    )
    session.flush()
    return key


def ensure_key(session: Session, tenant_name: str, key: str) -> Tenant:
    """Make `key` valid for the tenant named `tenant_name`, creating either as needed; commits."""
    tenant = get_or_create_tenant(session, tenant_name)
    owner = session.scalar(select(ApiKey.tenant_id).where(ApiKey.key_hash == hash_key(key)))
    if owner is None:
        add_key(session, tenant, key)
    elif owner != tenant.id:
        raise ValueError("that API key already belongs to another tenant")
    session.commit()
    return tenant


def has_any_key(session: Session) -> bool:
    return session.scalar(select(ApiKey.id).limit(1)) is not None


def tenant_for_key(session: Session, key: str) -> Tenant | None:
    return session.scalar(
        select(Tenant)
        .join(ApiKey, ApiKey.tenant_id == Tenant.id)
        .where(ApiKey.key_hash == hash_key(key), ApiKey.revoked_at.is_(None))
    )
