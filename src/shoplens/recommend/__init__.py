"""Shopper behaviour: events in, profiles, recommendations, related products, category trends, erasure.

`events` takes events in (validated, pseudonymised, idempotent); `profiles` turns a shopper's events into
category affinity, a taste vector and recent items; `stats` aggregates the whole catalogue's events into arrays;
`candidates` and `recommender` blend them into explained recommendations; `trends` counts per category and day;
`erasure` forgets a shopper; `simulate` is the offline evaluation behind bench/recsys_sim.py.
"""
