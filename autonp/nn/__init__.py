"""Networks with autonp: modules and parameters, layers, losses, and ``nn.functional``.

- :mod:`.module` — ``Parameter``, ``Module`` (parameters, buffers, train/eval, state dicts), ``Sequential``
- :mod:`.layers` — ``Linear``, activations, ``Flatten``, ``Dropout``, ``Embedding``
- :mod:`.conv` — ``Conv2d``, ``MaxPool2d``, ``AvgPool2d``
- :mod:`.norm` — ``BatchNorm1d``, ``BatchNorm2d``, ``LayerNorm``
- :mod:`.recurrent` — ``RNNCell``, ``LSTMCell``
- :mod:`.losses` — cross-entropy, binary cross-entropy, MSE, L2 penalty
- :mod:`.functional` — the same as functions: ``conv2d``, ``max_pool2d``, ``dropout``, ``batch_norm``, ...
"""
from . import functional
from .conv import AvgPool2d, Conv2d, MaxPool2d
from .layers import Dropout, Embedding, Flatten, Linear, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .losses import binary_cross_entropy, binary_cross_entropy_sum, cross_entropy, l2_penalty, mse_loss
from .module import Module, Parameter, Sequential
from .norm import BatchNorm1d, BatchNorm2d, LayerNorm
from .recurrent import LSTMCell, RNNCell
