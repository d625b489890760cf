"""The HTTP service that answers schedule requests."""
