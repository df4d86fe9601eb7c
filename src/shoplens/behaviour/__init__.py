"""Shopper behaviour: events in, the one shopper profile, erasure, category trends.

`events` takes events in (validated, ids pseudonymised with `user_key`, idempotent); `profiles` turns a
shopper's events into THE profile that recommendations and ads both read (category affinity, segment, taste
vector, recent items; weights and decay in one `ProfileConfig`); `erasure` forgets a shopper; `trends` counts
uploads, views, carts and purchases per category and day. Its tables live in `shoplens.db.behaviour`.
"""
