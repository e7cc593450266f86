"""Billing writes, one module per act group."""
