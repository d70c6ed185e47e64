"""Scale-out over several machines with Celery (issue 16): the same pipeline job on workers.

Nothing here is imported unless a broker is used: Celery, kombu and redis-py are an optional
extra (``pip install 'fibuca-desktop[cluster]'``). ``core/`` never imports this package.

- ``broker_url``: where the broker URL comes from, and its password never shown;
- ``app``: the Celery app factory (JSON only, late acks, bounded timeouts);
- ``job_spec``: a job as plain JSON, and the Pipeline a worker rebuilds from it;
- ``tasks``: ``process_photo`` and the per-process engines; ``worker``: the worker's start;
- ``submit``: ``ClusterBatch``, the submitting side the CLI and the GUI share;
- ``results``: a worker's stored result as a ``JobResult``;
- ``status``: workers online, queued and running tasks.
"""
