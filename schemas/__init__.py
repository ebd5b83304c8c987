"""Data contracts of mmrecun: Arrow schemas (and, later, Great Expectations suites) per input table."""
