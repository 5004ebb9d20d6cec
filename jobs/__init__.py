"""Orchestration: entry points that compose the config once and call compute (transfer/) and statistics (analysis/).

sweep (+ summary, power_seeds), replay (+ plan), import_aar. Nothing in transfer/ or analysis/ imports from here.
"""
