"""sim: a discrete-event simulator of cooperative versus preemptive scheduling."""

from .config import Config, ConfigError, load_config
from .runner import Result, run

__version__ = "0.1.0"
__all__ = ["Config", "ConfigError", "Result", "load_config", "run", "__version__"]
