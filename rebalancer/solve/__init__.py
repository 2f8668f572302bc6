"""Solve: the optimizer (``rebalancer.optimize``) driven to an answer for one request.

- ``driver``: ``optimize``, the request's answer from first solve to minimum-trade
  passes, retried with a hair of room where the limits leave none (from the first
  working set ``prepare`` chose with ``optimize.seed``);
- ``final``: the final solve, the same on every path (its names and its Parameters);
- ``wash``: no selling at a loss and buying back in one answer;
- ``path``: whether the answer is one step of a path, and where that path ends;
- ``step``: a step held back by the per-run limits, kept going toward that end;
- ``slots``: the compiled problem a book's accounts of one model share.
"""
