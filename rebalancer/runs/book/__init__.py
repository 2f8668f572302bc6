"""``rebalancer batch``: a book of accounts, one proposal each, on local worker
processes or a Dask cluster (``run.run_book``). Its parts, in the order a book uses
them:

- ``plan``: the book's files (``BookFiles``), one ``Job`` per row of the accounts file,
  where each account's outputs go;
- ``jobs``: what crosses to and from the engines (``Job``, ``AccountResult``);
- ``resume``: which accounts' earlier outputs ``--resume`` reuses;
- ``engines``: where the jobs run — ``local_engine`` (forked processes) or
  ``dask_engine`` (a Dask cluster) — and what both share: a lost worker, stopping;
- ``account``: one account end to end in a worker, from its per-process ``cache``
  (the inputs read once) and its model's shared problems (``models``);
- ``blocks`` and ``workbook``: the block orders and the book summary, written last.

Nothing is imported here: the command line checks ``--scheduler`` with
``dask_engine.scheduler_problem`` while it parses, before the optimizer is needed.
"""
