"""Billing: subscriptions, applied coupons, billing periods, usage, billing runs, plan changes, the test clock."""
