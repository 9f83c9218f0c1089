"""users.email_verified: whether the account's own email address was ever vouched for

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 10:00:00

An OpenID provider may sign in to an existing account by email only when this is true, so a
self-registered account (anyone can type any address) can never be taken over that way.
Existing rows: accounts made by an OIDC login with a verified email (no password, a real
address) and accounts holding the ``admin`` role (made by the bootstrap or promoted by an
operator) are marked verified; every other existing account is not.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column("email_verified", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.execute(
        """
        UPDATE users SET email_verified = true
        WHERE (password_hash IS NULL AND email NOT LIKE '%.oidc.invalid')
           OR id IN (
               SELECT ur.user_id FROM user_roles ur JOIN roles r ON r.id = ur.role_id
               WHERE r.name = 'admin'
           )
        """
    )


def downgrade() -> None:
    op.drop_column("users", "email_verified")
