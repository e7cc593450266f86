"""Metering: usage event storage and ingestion, and the aggregation engine."""
