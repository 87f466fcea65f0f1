"""The two companies (§2). Every scoped row carries one of these codes."""

from django.db import models


class Entity(models.TextChoices):
    ZR7 = "ZR7", "ZR7"
    MDL = "MDL", "MDL"


ALL_ENTITIES = frozenset(Entity.values)


def other_entity(entity: str) -> str:
    return Entity.MDL if entity == Entity.ZR7 else Entity.ZR7
