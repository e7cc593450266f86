"""Back office: coupons."""
