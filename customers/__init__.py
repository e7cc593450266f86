"""Customers: organizations (the tenant and seller), API keys, customers."""
