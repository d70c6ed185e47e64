"""The Process tab: drop photos, watch the queue, get cut-outs."""
