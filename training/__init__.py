"""Cost models trained on tuning logs (``lorien train``)."""
