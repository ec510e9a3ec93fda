"""The benchmark sweep behind BENCHMARKS.md (run.py) and its helpers: the models it times (models.py)
and the report it writes (report.py). Not part of the onexn package."""
