"""``autonp.numpy.fft``: NumPy's ``fft``. The transforms are complex, and autonp differentiates real
functions only, so on a Tensor that requires grad they refuse (naming the function) rather than drop the
gradient."""
from numpy.fft import *  # noqa: F403
