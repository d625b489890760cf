"""The TVM MetaSchedule dialect (importing this package does not import TVM)."""
