"""The load test and the demo loader: tooling, outside the runtime packages.

`marketplace loadtest` is a Black Friday load run against a running stack, with a report. The
run prepares its own sellers, products, flash-sale stock and shoppers through the command
API, drives both APIs with Locust (headless, as a library, in a child process of its own,
since Locust monkey-patches the standard library with gevent), samples projection lag and
the payment breaker meanwhile, checks the flash sale against the event store, and writes
Markdown with PNG charts. Nothing here imports Locust except `swarm`, `users` and `shape`,
which only that child process loads. `marketplace seed-demo` (`demo`, `demo_catalog`) loads
a demo marketplace through the command API.

Locust and matplotlib come with the `loadtest` extra (`pip install -e '.[loadtest]'`); the
runtime image carries neither, nor this package. What this package needs from the
composition root comes in as a `loadtest.root.Root`: it never imports `marketplace`.
"""
