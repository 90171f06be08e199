"""Rate limits per caller and per client IP for each kind of request, kept in Redis.

Each category of request (browse, cart, checkout) has a budget per authenticated caller
(the bearer token's sub) and one per client IP; a request spends one unit of each that
applies, and is refused (429) when any is spent (the budgets it passed still count it).
The counts live in Redis, so every API process shares them; while Redis does not answer,
each process decides alone, in memory.

Modules: `policies` (the budgets), `verdict` (what they said, as RateLimit fields),
`metrics`, `redis_store` (the SPEND script and the `limits` storage on Redis), `strategies`
(budgets spent through `limits`), `leases` and `scripted` (budgets spent by SPEND, leased
in blocks), `fallback` (the in-memory store while Redis is down), `limiter` (RateLimiter,
which chooses among them) and `middleware` (the ASGI middleware).
"""
