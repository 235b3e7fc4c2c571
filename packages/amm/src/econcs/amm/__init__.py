"""econcs-amm (in progress)."""
