"""Zero-shot schedules for workloads with no tuned record."""
