from __future__ import annotations

from typing import Any

from approvals.executors.base import ExecutionRequest, Executor


class InternalNoteExecutor(Executor):
    """Records a status note on the action. No outside effect, so it is always safe to repeat."""

    key = "internal.note"
    repeatable = True

    def validate_payload(self, payload: dict[str, Any], config: dict[str, Any]) -> dict[str, str]:
        note = payload.get("note")
        if not isinstance(note, str) or not note.strip():
            return {"payload.note": "internal.note needs a non-empty string `note`."}
        if len(note) > 10_000:
            return {"payload.note": "A note is at most 10,000 characters."}
        return {}

    def describe(self, payload: dict[str, Any], config: dict[str, Any]) -> str:
        return f"Record note: {str(payload.get('note', ''))[:120]}"

    def execute(self, request: ExecutionRequest) -> dict[str, Any]:
        return {"note": request.payload["note"]}
