"""Sphinx extension: execute the pages that need it side by side, before Sphinx reads them.

myst-nb executes a page when it reads it, one page after the other, and one page keeps about one
core busy. Here, when Sphinx has decided which pages to read, each page that myst-nb would
execute (a notebook page whose code has no entry in the execution cache) runs in its own
process, ``DLBOOK_BUILD_JOBS`` at a time (default: 2, or 1 on a one-core machine), longest
first. The executed notebook goes into the execution cache exactly as myst-nb would put it
there, so the read that follows takes every output from the cache.

Kept beside the outputs, in the cache record: the page's seconds and each code cell's seconds
(``make bench`` prints them) and how many pages ran at a time. A page's kernel learns that last
number from ``DLBOOK_PAGES_AT_ONCE`` (1 for a page that myst-nb runs itself), so that a page that
prints how long something took can say that other pages ran at the same time
(:func:`dlbook.environment.timed_on`).

A page that fails here is left to myst-nb, which runs it again and reports the failing cell as
it always does. Kernels talk to the build over local sockets (IPC), not TCP, where the system
has them, so no kernel warns that its traffic could be read on the network.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import suppress
from datetime import datetime
from pathlib import Path, PurePosixPath

import nbformat
from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

JOBS_VARIABLE = "DLBOOK_BUILD_JOBS"  # set by whoever builds: how many pages at a time
AT_ONCE_VARIABLE = "DLBOOK_PAGES_AT_ONCE"  # set here, for the kernels: how many ran at a time


def jobs(environ=os.environ) -> int:
    """How many pages run at a time: ``DLBOOK_BUILD_JOBS``, else 2 (1 on a one-core machine)."""
    value = environ.get(JOBS_VARIABLE, "").strip()
    if value:
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"{JOBS_VARIABLE} must be a whole number of pages, 1 or more; it is {value!r}")
        return int(value)
    return min(2, os.cpu_count() or 1)


def cell_seconds(notebook: nbformat.NotebookNode) -> list[float | None]:
    """Seconds each code cell ran, from nbclient's timing metadata, which this removes (the
    execution cache compares cell metadata, and a page's own cells carry none)."""
    seconds = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        timing = cell.metadata.pop("execution", {})
        try:
            start = datetime.fromisoformat(timing["iopub.execute_input"].replace("Z", "+00:00"))
            end = datetime.fromisoformat(timing["shell.execute_reply"].replace("Z", "+00:00"))
            seconds.append(round((end - start).total_seconds(), 3))
        except (KeyError, ValueError):
            seconds.append(None)  # a cell that never ran (an earlier one failed) or an empty one
    return seconds


def _kernel_manager(kernel_name: str, folder: str):
    """A kernel manager that uses IPC sockets in ``folder`` where the platform has them."""
    from jupyter_client.manager import KernelManager

    if sys.platform == "win32":
        return KernelManager(kernel_name=kernel_name)
    # A short folder: a Unix socket's path may hold about 100 characters.
    return KernelManager(
        kernel_name=kernel_name, transport="ipc", connection_file=os.path.join(folder, "kernel.json")
    )


def execute(source: str, timeout: int | None, allow_errors: bool, in_temp: bool, page_dir: str) -> dict:
    """Run one notebook (its JSON text) in a fresh kernel; return it executed, with timings.

    Runs in a worker process. Mirrors myst-nb's own execution (jupyter-cache's
    ``single_nb_execution``, in a temporary folder when ``run_in_temp`` is set)."""
    from jupyter_cache.executors.utils import single_nb_execution

    notebook = nbformat.reads(source, as_version=4)
    kernel_name = notebook.metadata.get("kernelspec", {}).get("name", "python3")
    with tempfile.TemporaryDirectory(prefix="dlbook-") as sockets, tempfile.TemporaryDirectory() as temp:
        cwd = temp if in_temp else page_dir
        manager = _kernel_manager(kernel_name, sockets)
        try:
            result = single_nb_execution(
                notebook,
                cwd=os.path.abspath(cwd),
                timeout=timeout,
                allow_errors=allow_errors,
                meta_override=True,
                record_timing=True,
                km=manager,
            )
        finally:  # nbclient leaves a kernel manager it was given running
            if manager.has_kernel:
                manager.shutdown_kernel()
            manager.cleanup_resources()
    cells = cell_seconds(notebook)
    return {
        "notebook": nbformat.writes(notebook),
        "seconds": result.time,
        "cells": cells,
        "error": None if result.err is None else f"{type(result.err).__name__}: {result.err}"[-2000:],
    }


def pending_pages(
    app: Sphinx, env, docnames
) -> list[tuple[str, Path, nbformat.NotebookNode, object, object]]:
    """(docname, path, notebook, nb_config, execution cache) of each page that myst-nb would
    execute now."""
    from jupyter_cache import get_cache
    from myst_nb.core.nb_to_tokens import nb_node_to_dict
    from myst_nb.core.read import create_nb_reader

    pending = []
    for docname in docnames:
        path = Path(env.doc2path(docname))
        if path.suffix != ".md" or not path.is_file():
            continue
        text = path.read_text(encoding="utf8")
        reader = create_nb_reader(str(path), env.myst_config, env.mystnb_config, text)
        if reader is None:
            continue
        notebook = reader.read(text)
        nb_config = env.mystnb_config
        if nb_config.metadata_key in notebook.metadata:  # a page's own settings, as myst-nb reads them
            overrides = nb_node_to_dict(notebook.metadata[nb_config.metadata_key])
            overrides.pop("output_folder", None)
            nb_config = nb_config.copy(**overrides)
        if nb_config.execution_mode != "cache":
            continue
        posix = PurePosixPath(path.as_posix())
        if any(posix.match(pattern) for pattern in nb_config.execution_excludepatterns):
            continue
        if not any(cell.cell_type == "code" for cell in notebook.cells):
            continue
        cache = get_cache(nb_config.execution_cache_path or ".jupyter_cache")
        with suppress(KeyError):
            cache.match_cache_notebook(notebook)
            continue
        pending.append((docname, path, notebook, nb_config, cache))
    return pending


def expected_cost(previous: dict[Path, float], path: Path, notebook) -> tuple[float, bool, int]:
    """How long a page is likely to run, to start the longest first: the seconds it took the last
    time the cache saw it (``previous``), else whether it asks for a GPU (the pages that train
    convolutional networks), else the length of its code."""
    lesson = notebook.metadata.get("lesson") or {}
    gpu = isinstance(lesson, dict) and bool(lesson.get("gpu"))
    code = sum(len(cell.source) for cell in notebook.cells if cell.cell_type == "code")
    return previous.get(path, 0.0), gpu, code


def execute_pages(app: Sphinx, env, docnames) -> None:
    """``env-before-read-docs``: execute the pages that need it, side by side, into the cache."""
    from jupyter_cache.base import CacheBundleIn

    pending = pending_pages(app, env, docnames)
    if not pending:
        return
    width = min(jobs(), len(pending))
    os.environ[AT_ONCE_VARIABLE] = str(width)  # the workers' kernels inherit it (timed_on)
    previous: dict[Path, float] = {}  # each page's seconds the last time, read once
    for cache in {str(p[4].path): p[4] for p in pending}.values():
        for record in cache.list_cache_records():
            uri, seconds = Path(record.uri), float(record.data.get("execution_seconds") or 0)
            previous[uri] = max(previous.get(uri, 0.0), seconds)
    pending.sort(key=lambda p: expected_cost(previous, p[1], p[2]), reverse=True)
    logger.info(f"executing {len(pending)} pages, {width} at a time: " + ", ".join(p[0] for p in pending))
    start = time.perf_counter()
    context = multiprocessing.get_context("spawn")  # no forked copy of Sphinx; the same on every OS
    with ProcessPoolExecutor(max_workers=width, mp_context=context) as pool:
        futures = {
            pool.submit(
                execute,
                nbformat.writes(notebook),
                cfg.execution_timeout,
                cfg.execution_allow_errors,
                cfg.execution_in_temp,
                str(path.parent),
            ): (docname, path, cache)
            for docname, path, notebook, cfg, cache in pending
        }
        for future in as_completed(futures):
            docname, path, cache = futures[future]
            try:
                result = future.result()
            except Exception as exc:  # the worker itself broke: myst-nb will run the page
                logger.info(f"{docname}: could not run it side by side ({exc}); it runs when read")
                continue
            if result["error"]:
                logger.info(f"{docname}: a cell failed; the page runs again when read, to report it")
                continue
            executed = nbformat.reads(result["notebook"], as_version=4)
            data = {"execution_seconds": result["seconds"], "cell_seconds": result["cells"], "jobs": width}
            cache.cache_notebook_bundle(
                CacheBundleIn(executed, str(path), data=data), check_validity=False, overwrite=True
            )
            logger.info(f"{docname}: executed in {result['seconds']:.1f} s")
    os.environ[AT_ONCE_VARIABLE] = "1"  # a page that myst-nb runs again after a failure runs alone
    logger.info(f"executed {len(pending)} pages in {time.perf_counter() - start:.1f} s, {width} at a time")


def cell_roles(notebook: nbformat.NotebookNode) -> list[str]:
    """The role of each code cell of a page's notebook: "solution" between ``{solution-start}``
    and ``{solution-end}``, "hidden" for a ``remove-cell`` tag, else "visible"."""
    roles, in_solution = [], False
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            for marker in re.findall(r"\{solution-(start|end)\}", cell.source):
                in_solution = marker == "start"
        elif cell.cell_type == "code":
            tags = cell.metadata.get("tags", [])
            roles.append("solution" if in_solution else "hidden" if "remove-cell" in tags else "visible")
    return roles


def timed_cells(record, notebook: nbformat.NotebookNode) -> list[tuple[float, int, str, str]]:
    """(seconds, number of the code cell counting from 1, role, first line) of every code cell
    that the cache record holds a time for, slowest first."""
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    times = record.data.get("cell_seconds") or [None] * len(code)
    rows = []
    for number, (cell, role, seconds) in enumerate(
        zip(code, cell_roles(notebook), times, strict=True), start=1
    ):
        if seconds is not None:
            first = next((line for line in cell.source.splitlines() if line.strip()), "")
            rows.append((seconds, number, role, re.sub(r"\s+", " ", first)[:60]))
    return sorted(rows, reverse=True)


def setup(app: Sphinx) -> dict:
    # after dlbook_tools.kernels has prepared the kernels' environment at builder-inited
    app.connect("env-before-read-docs", execute_pages)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
