"""What the tests share, in one place: import ``support.<module>``; test modules hold tests.

- :mod:`support.wait`: :func:`~support.wait.eventually`, the one poll-until-true loop.
- :mod:`support.cli`: the one way to run ``baocao`` (in-process, as a command, in the background).
- :mod:`support.settings`: the default deadline rules, per-test settings and their environment.
- :mod:`support.clock`: a fake clock for code that sleeps.
- :mod:`support.net`: free loopback ports.
- :mod:`support.records`: records of the worker's output topics.
- :mod:`support.sink_records`: one record of every schema the sink reads, and its row.
- :mod:`support.recompute`: the views' figures recomputed from published lines (e2e, chaos).
- :mod:`support.gateway`, :mod:`support.dashboard`: a running gateway; a seeded dashboard month.
- :mod:`support.worker`, :mod:`support.sink`, :mod:`support.topics`: the worker and the sink
  with the Kafka side of their tests; a topic read whole.
- :mod:`support.registry`: an in-process schema registry with injectable faults.
- :mod:`support.bi`, :mod:`support.grafana`, :mod:`support.export`: a ClickHouse with the BI
  access applied; the Grafana panels' SQL; an exported workbook read back.
- :mod:`support.compose`, :mod:`support.dockerignore`: the rules docker-compose.yml and the
  build context are held to (no Docker engine needed).

``tests/`` is on ``sys.path`` when pytest loads ``tests/conftest.py`` (rootdir import mode), so
``support`` imports as a top-level package from every test tier.
"""
