"""econcs-decpomdp-diffusion (in progress)."""
