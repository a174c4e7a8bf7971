"""The transcript store: every episode (steps, tool calls, plans, submissions, grades, timings) in SQLite, with
export to and import from JSONL in the OpenAI chat format, and import of the probe's and executor's own logs."""

from transcripts.guard import TokenRefused
from transcripts.models import Decision, Episode, EpisodeSummary, PlanRecord, Step, grade_outcome
from transcripts.store import DEFAULT_DB, EpisodeNotFound, TranscriptStore, TranscriptStoreError

__all__ = ["DEFAULT_DB", "Decision", "Episode", "EpisodeNotFound", "EpisodeSummary", "PlanRecord", "Step",
           "TokenRefused", "TranscriptStore", "TranscriptStoreError", "grade_outcome"]
