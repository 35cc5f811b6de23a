"""HIPS autograd's ``autograd.builtins``: ``tuple``, ``list``, ``dict``, ``isinstance`` and ``type``. autograd
needed its own containers to carry gradients through them; autonp's transforms take Python's containers as
pytrees, so these are Python's own, here so that ``from autograd.builtins import tuple`` ports by its name."""
import builtins

tuple = builtins.tuple  # noqa: A001
list = builtins.list  # noqa: A001
dict = builtins.dict  # noqa: A001
isinstance = builtins.isinstance  # noqa: A001
type = builtins.type  # noqa: A001

__all__ = ["tuple", "list", "dict", "isinstance", "type"]
