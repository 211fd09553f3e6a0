"""sim: a discrete-event simulator of cooperative versus preemptive scheduling."""

from .config import Config, ConfigError, load_config
from .runner import Result, run

__version__ = "0.1.0"


def __getattr__(name: str):
    """``sim.plots`` on first use: matplotlib is slow to import and runs don't need it."""
    if name == "plots":
        import importlib

        return importlib.import_module(".plots", __name__)
    raise AttributeError(f"module 'sim' has no attribute {name!r}")


__all__ = ["plots", "Config", "ConfigError", "Result", "load_config", "run", "__version__"]
