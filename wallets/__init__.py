"""Wallets: prepaid credit wallets and their append-only transaction ledger."""
