"""Exporters of tigerseal's observer events (see :mod:`tigerseal.observe`).

* :mod:`tigerseal.metrics.prometheus` -- ``pip install "tigerseal[prometheus]"``;
* :mod:`tigerseal.metrics.otel` -- ``pip install "tigerseal[otel]"`` (metrics and spans).

Nothing here is imported by ``import tigerseal``: an exporter and its library load only when
you import and install it.
"""
