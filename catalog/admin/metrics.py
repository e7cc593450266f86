"""Back office: metrics."""
