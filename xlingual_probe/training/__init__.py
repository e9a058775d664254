"""Fine-tuning: the loop, its configuration, plug-in interfaces and learning-rate schedule."""

from xlingual_probe.training.callbacks import Callback, ConstantScales, LoopContext, LRPolicy
from xlingual_probe.training.config import TrainConfig, read_config_file
from xlingual_probe.training.loop import train

__all__ = ["Callback", "ConstantScales", "LRPolicy", "LoopContext", "TrainConfig", "read_config_file", "train"]
