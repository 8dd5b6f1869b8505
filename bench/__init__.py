"""juliapack benchmarks (see run.py)."""
