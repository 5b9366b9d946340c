"""The report factory: parameterised notebooks executed with papermill, rendered with nbconvert.

``ramlab build`` (:func:`factory.build_all`) is made of one module per concern:

- :mod:`.layout` where a project keeps its inputs and outputs (``Layout``);
- :mod:`.jobs` the jobs of a build (``Job``) and their plan;
- :mod:`.fingerprints` input digests and the manifest of the last good builds;
- :mod:`.pool` the worker pool (``JobResult``), :mod:`.progress` its display,
  :mod:`._worker` one job in a worker process, :mod:`._preload` the fork
  server's warm-up;
- :mod:`.build` one report: :mod:`.parameters` (check), :mod:`.execute`
  (papermill), :mod:`.render` (nbconvert template), :mod:`.toc` (the table
  of contents), :mod:`.provenance` (the footer);
- :mod:`.index` ``reports/index.html``; :mod:`.keyfigures` the figures a
  report publishes and their changes;
- :mod:`.blocks` the building blocks that the report notebook calls;
- ``templates/`` the nbconvert template (``ramlab/``) and the index page
  (``index/``).

It uses the statistics only through ramlab's public API.
"""
