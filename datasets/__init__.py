"""Data Lorien learns from: the model zoo built in code, and (later) tuning-log data sets."""
