"""dkdpose: Dynamic Kernel Distillation for efficient pose estimation in videos."""

__version__ = "0.1.0"
