# Loaded by every kernel of a book build (see dlbook_tools.kernels). TensorFlow's C++ runtime
# writes absl and oneDNN notices straight to file descriptor 2 while it is imported; they
# would land in the first cell that imports Keras. So whenever a page first imports
# TensorFlow (directly, or through Keras), that import runs with the descriptor pointed at
# /dev/null, and the pages' outputs show only what the code itself prints. Pages that never
# use TensorFlow do not pay the seconds its import takes.
# Nothing else is hidden: Python warnings and later stderr output still reach the build,
# which treats them as errors.


def _quiet_tensorflow_import():
    import importlib.abc
    import importlib.machinery
    import os
    import sys

    if os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
        return

    class QuietLoader(importlib.abc.Loader):
        """TensorFlow's own loader, run with file descriptor 2 muted."""

        def __init__(self, loader):
            self.loader = loader

        def create_module(self, spec):
            return self.loader.create_module(spec)

        def exec_module(self, module):
            saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 2)
            try:
                self.loader.exec_module(module)
            finally:
                os.dup2(saved, 2)
                os.close(null)
                os.close(saved)
            module.__loader__ = module.__spec__.loader = self.loader  # leave no trace

        def __getattr__(self, name):
            return getattr(self.loader, name)

    class QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name != "tensorflow":
                return None
            sys.meta_path.remove(self)  # once is enough
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            if spec is not None and spec.loader is not None:
                spec.loader = QuietLoader(spec.loader)
            return spec

    if "tensorflow" not in sys.modules:
        sys.meta_path.insert(0, QuietTensorFlowFinder())


_quiet_tensorflow_import()
del _quiet_tensorflow_import
