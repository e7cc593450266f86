"""Back office for the catalog, one module per resource."""

from catalog.admin import add_ons, coupons, metrics, plans, taxes  # noqa: F401
