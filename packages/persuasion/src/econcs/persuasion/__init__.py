"""econcs-persuasion (in progress)."""
