"""Process managers and workers: they follow logs and issue commands or side effects.

Checkout (reservations, payments, deadlines), shipping labels and the mail outbox. Only the
composition root (marketplace/) imports this package.
"""
