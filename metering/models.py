"""Usage events: an append-only table built for volume (see docs/events-storage.md).

An event is never updated or deleted by the application. It is not linked to a subscription or a metric by
foreign key: Lago stores unknown codes and unknown subscription ids too (billing-semantics §1), and an event is
attributed at read time to the subscription whose `external_id` matches and whose life covers its timestamp.
"""

from __future__ import annotations

from django.db import models


class Event(models.Model):
    """One usage event, kept exactly as received (plus an expression result, when the metric has one).

    * `id` is a bigint identity; the API exposes it as `lago_id` (a string: Lago's spec types it as a nullable
      string, and a bigint keeps the table and its indexes narrow).
    * `(organization, transaction_id, external_subscription_id)` is the idempotency key, enforced by a unique
      index and `INSERT … ON CONFLICT DO NOTHING`. Its column order also serves `GET /events/{transaction_id}`
      (an org-wide look-up by transaction id).
    * `(organization, external_subscription_id, code, timestamp)` is the one index the aggregation engine reads.
    """

    id = models.BigAutoField(primary_key=True)
    # The unique index below leads with organization_id: no separate FK index.
    organization = models.ForeignKey(
        "customers.Organization", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    transaction_id = models.CharField(max_length=255)
    external_subscription_id = models.CharField(max_length=255)
    code = models.CharField(max_length=255)
    timestamp = models.DateTimeField()
    properties = models.JSONField(default=dict, blank=True)
    # Lago's column is decimal(40, 15); only the `dynamic` charge model reads it.
    precise_total_amount_cents = models.DecimalField(max_digits=40, decimal_places=15, null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-timestamp", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "transaction_id", "external_subscription_id"],
                name="event_transaction_unique",
            )
        ]
        indexes = [
            models.Index(
                fields=["organization", "external_subscription_id", "code", "timestamp"],
                name="event_aggregation_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.code} · {self.transaction_id} ({self.external_subscription_id})"

    @property
    def lago_id(self) -> str:
        return str(self.id)
