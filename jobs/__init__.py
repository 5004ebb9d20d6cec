"""Orchestration: the entry points (sweep, replay, report, import_aar, assets) and what runs a study around the
compute: the grid (Hydra config -> cell specs), pre-flight checks, the sweep driver, its Ray tasks, cluster checks,
Ray Job submission, the study lease, the transfer plan, the summary and the report job.

Nothing in transfer/, analysis/ or ops/ imports from here.
"""
