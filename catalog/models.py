"""What is sold and at what price. (Billable metrics, plans, charges, add-ons and coupons join here.)"""

from __future__ import annotations

import uuid

from django.db import models


class Tax(models.Model):
    """A tax rate (percent) applied by code to the organization, customers, plans, charges or add-ons."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("customers.Organization", on_delete=models.CASCADE, related_name="taxes")
    code = models.CharField(max_length=255)
    name = models.CharField(max_length=255)
    description = models.TextField(null=True, blank=True)
    rate = models.DecimalField(max_digits=10, decimal_places=4)
    applied_to_organization = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "taxes"
        constraints = [
            models.UniqueConstraint(fields=["organization", "code"], name="tax_code_unique_per_org")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code}, {self.rate.normalize()}%)"
