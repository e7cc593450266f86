"""Catalog writes, one module per resource."""
