"""``autonp.numpy.fft``: NumPy's ``fft``. On Tensors the transforms (fft, ifft, fft2, ifft2, fftn, ifftn, rfft,
irfft, rfft2, irfft2, rfftn, irfftn, fftshift, ifftshift) are differentiated in HIPS autograd's complex convention
(``autonp.ops.fft``); hfft and ihfft refuse a Tensor that requires grad."""
from numpy.fft import *  # noqa: F403
