"""The stream processor: a faust-streaming app that turns custom events into achievement progress."""
