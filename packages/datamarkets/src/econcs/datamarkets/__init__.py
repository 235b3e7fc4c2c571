"""econcs-datamarkets (in progress)."""
