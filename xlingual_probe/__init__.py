"""xlingual-probe: analyse and improve zero-shot cross-lingual fine-tuning of multilingual encoders.

Importing the package first (the ``xprobe`` command does) makes OpenMP threads sleep while they wait
(``OMP_WAIT_POLICY=PASSIVE``, unless the variable is set): torch's default lets them spin, and on a
machine where another busy process shares the cores the spinning threads steal the time of the ones
they wait for, an order-of-magnitude slow-down (see :mod:`xlingual_probe.training.runtime`). OpenMP
reads the variable once, when torch is first imported, hence this place.
"""

import os as _os
import sys as _sys

__version__ = "0.1.0"

TORCH_IMPORTED_FIRST = "torch" in _sys.modules  # then the OpenMP settings below come too late
if not TORCH_IMPORTED_FIRST:
    _os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
