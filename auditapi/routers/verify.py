"""Tamper evidence: every log's hash chain recomputed against its signed checkpoints."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from auditapi.deps import Call
from auditapi.params import ANSWERS
from auditapi.schemas import Verification
from infra.audit.checkpoints import DevelopmentKey
from infra.web import Problem

router = APIRouter(tags=["verify"], responses=ANSWERS)


@router.get("/v1/audit/verify", response_model=Verification)
def verify(call: Call) -> dict[str, Any]:
    """Recompute each log's hash chain against the signed checkpoints of its head.

    `ok` is true when every log verified; otherwise each broken log names the first position
    that breaks and how: `payload changed`, `row deleted`, `rows reordered`, `row inserted`,
    `head truncated`, `chain rewritten` (consistently, caught by a checkpoint) or `checkpoint
    forged`. It reads every event of every log, so it takes time on large logs; the result
    is also published as metrics (`audit_chain_intact` and others, per log). In production
    without MARKETPLACE_AUDIT_VERIFY_KEY (or the signing key) it answers 503.
    """
    call.record("verify", "*")
    try:
        verdicts = call.deps.verify()
    except DevelopmentKey as error:
        raise Problem(
            503, "audit-key-missing", "No key to check checkpoints with", str(error)
        ) from None
    return {
        "ok": all(v.ok for v in verdicts),
        "logs": [
            {
                "log": v.log,
                "ok": v.ok,
                "verified": v.verified,
                "head": v.head,
                "broken": v.broken.value if v.broken else None,
                "position": v.position,
                "detail": v.detail,
            }
            for v in verdicts
        ],
    }
