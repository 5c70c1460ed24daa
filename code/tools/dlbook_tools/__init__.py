"""The tooling that builds and checks the book *Introduction to Deep Learning*.

Learners never import this package; pages import the learner package :mod:`dlbook`.
One job per module:

- :mod:`~dlbook_tools.pages`: the one parser of the sources (toc, front matter, headings,
  labels, exercises, "Further reading");
- Sphinx extensions (listed in ``_config.yml``): :mod:`~dlbook_tools.kernels` (quiet build
  kernels), :mod:`~dlbook_tools.lesson` (overview, key points, instructor notes),
  :mod:`~dlbook_tools.summaries` (schedule, key points and resources pages),
  :mod:`~dlbook_tools.stable_anchors` (label ids, redirects), :mod:`~dlbook_tools.assets`
  (the learner layer's JavaScript and CSS), :mod:`~dlbook_tools.notebooks` (the learner
  notebooks that Colab and Binder open, rendered by :mod:`~dlbook_tools.markdown` from the
  resolved doctrees, and their workshop copies, :mod:`~dlbook_tools.workshop`),
  :mod:`~dlbook_tools.mathjax` (MathJax served with the site, for offline reading);
- :mod:`~dlbook_tools.branch`: the notebooks branch and the site's archive of all notebooks;
- :mod:`~dlbook_tools.schedule`: the workshop timetable's arithmetic;
- :mod:`~dlbook_tools.anchors`: the manifest of published anchors and its command line;
- :mod:`~dlbook_tools.build` and :mod:`~dlbook_tools.bench`: ``make book`` and ``make bench``.
"""
