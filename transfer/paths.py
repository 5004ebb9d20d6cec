"""Where the harness keeps things: one home directory for assets and caches, one tracking store."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def repo_root() -> Path | None:
    """The checkout this package runs from (editable install), or None for a wheel install."""
    root = PACKAGE_DIR.parent
    return root if (root / "pyproject.toml").exists() and (root / "conf").is_dir() else None


def config_dir() -> Path:
    root = repo_root()
    if root is None:
        raise FileNotFoundError("conf/ not found: run from a checkout of the transfer repository")
    return root / "conf"


def home() -> Path:
    """Assets, feature caches and downloads live here: $TRANSFER_HOME, else <repo>/.transfer."""
    env = os.environ.get("TRANSFER_HOME")
    if env:
        return Path(env).expanduser().resolve()
    root = repo_root()
    return (root / ".transfer") if root else Path.home() / ".cache" / "transfer"


def shared_data_dir() -> Path:
    """Real data for development: $TRANSFER_DATA, else ../shared/data beside the checkout."""
    env = os.environ.get("TRANSFER_DATA")
    if env:
        return Path(env).expanduser().resolve()
    root = repo_root() or Path.cwd()
    return (root.parent / "shared" / "data").resolve()


def default_tracking_uri() -> str:
    """$MLFLOW_TRACKING_URI, else a sqlite store at the repo root (no server needed)."""
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    root = repo_root() or Path.cwd()
    return f"sqlite:///{root / 'mlruns.db'}"


def default_artifact_root(tracking_uri: str | None = None) -> Path:
    """$TRANSFER_ARTIFACT_ROOT, else `mlartifacts/` beside a sqlite store's file (<repo>/mlartifacts by default)."""
    if os.environ.get("TRANSFER_ARTIFACT_ROOT"):  # set for Ray Jobs, whose working dir is a temporary copy
        return Path(os.environ["TRANSFER_ARTIFACT_ROOT"])
    uri = tracking_uri or default_tracking_uri()
    if uri.startswith("sqlite:///"):
        return Path(uri.removeprefix("sqlite:///")).resolve().parent / "mlartifacts"
    return (repo_root() or Path.cwd()) / "mlartifacts"


def git_sha() -> str:
    """HEAD of the checkout, suffixed -dirty when the tree has changes; 'unknown' outside git."""
    if os.environ.get("TRANSFER_GIT_SHA"):  # a Ray Job runs a copy without .git: the submitter's sha
        return os.environ["TRANSFER_GIT_SHA"]
    root = repo_root() or Path.cwd()
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                             check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{sha}-dirty" if dirty else sha
