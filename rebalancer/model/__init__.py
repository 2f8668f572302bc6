"""The model of the market and the account the optimizer works from: the universe as
the optimizer sees it (size buckets, groups, per-name settings), the signals and views
that make expected returns, the risk model, the cost model, the tax lots and the stress
scenarios. ``rebalancer.prepare.build`` builds one account's request from them."""
