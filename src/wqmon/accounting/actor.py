"""Who performs a step of the cycle: a name for the audit trail, a role, and regions."""

from __future__ import annotations

from dataclasses import dataclass

from wqmon.accounting.errors import ForbiddenError


@dataclass(frozen=True, slots=True)
class Actor:
    """The caller (an API key) as the cycle sees it.

    Attributes:
        name: Recorded in the audit trail (the key's name).
        role: county, city, province, operator or admin.
        regions: The regions it acts for with their subtrees; None means every region (the
            operator and admin roles, which read but do not take part in the cycle).
        key_id: The API key's id, kept beside the name.
    """

    name: str
    role: str
    regions: frozenset[str] | None
    key_id: int | None = None

    def may_read(self, region: str) -> bool:
        return self.regions is None or region in self.regions

    def require(self, role: str, region: str) -> None:
        """ForbiddenError unless the actor has `role` and `region` is within its regions."""
        if self.role != role:
            raise ForbiddenError(f"only a {role} key may do this (this key is {self.role})")
        if not self.may_read(region):
            raise ForbiddenError(f"this key does not act for region {region!r}")

    def require_read(self, region: str) -> None:
        if not self.may_read(region):
            raise ForbiddenError(f"this key may not read region {region!r}")
