"""Recommendations: catalogue-wide statistics, candidate sources, the blending recommender, its simulator.

`stats` aggregates the whole catalogue's events into arrays; `candidates` and `recommender` blend them with the
shopper's profile (`shoplens.behaviour.profiles`) into explained recommendations and related products;
`simulate` is the offline evaluation behind bench/recsys_sim.py; `demo` seeds demo shoppers.
"""
