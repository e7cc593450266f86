"""Back office: add_ons."""
