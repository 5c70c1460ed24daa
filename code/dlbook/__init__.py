"""Helpers for the book *Introduction to Deep Learning*: data loaders and build tooling.

Pages use :mod:`dlbook.data` (and :mod:`dlbook.pretrained` for pre-trained weights);
everything else here serves the build and the tests.
"""

__version__ = "0.1.0"
