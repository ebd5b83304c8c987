"""The compliance report: quality gates, request lifecycle, and its HTML (Jinja2 templates), PDF and JSON renderings."""
