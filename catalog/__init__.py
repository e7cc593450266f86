"""Catalog: billable metrics, plans, charges, add-ons, coupons, taxes; pure pricing math and the expression language."""
