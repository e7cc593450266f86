"""Billing reads, one module per resource; every query scoped by organization."""
