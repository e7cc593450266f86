"""The /invoices and /fees endpoints."""
