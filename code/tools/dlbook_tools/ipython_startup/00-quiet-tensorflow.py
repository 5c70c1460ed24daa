# Loaded by every kernel of a book build (see dlbook_tools.kernels). TensorFlow's C++ runtime
# writes absl and oneDNN notices straight to file descriptor 2 while it is imported; they
# would land in the first cell that imports Keras. Import it once here with that descriptor
# pointed at /dev/null, so the pages' outputs show only what the code itself prints.
# Nothing else is hidden: Python warnings and later stderr output still reach the build,
# which treats them as errors.


def _import_tensorflow_quietly():
    import os

    if os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
        return
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        pass
    finally:
        os.dup2(saved, 2)
        os.close(null)
        os.close(saved)


_import_tensorflow_quietly()
del _import_tensorflow_quietly
