"""The helpers that the pages of *Introduction to Deep Learning* import, and that a learner
installs on Colab: data loaders (:mod:`dlbook.data`), the data catalog with sources and
checksums (:mod:`dlbook.catalog`), download and verification (:mod:`dlbook.fetch`), stand-ins
for the book's offline build (:mod:`dlbook.standins`), pre-trained weights
(:mod:`dlbook.pretrained`), ``python -m dlbook.prefetch``, and the few functions that one page
teaches and later pages reuse (:mod:`dlbook.plotting`, :mod:`dlbook.models`).

The tooling that builds the book is a separate package, ``dlbook_tools``.
"""

__version__ = "0.1.0"
