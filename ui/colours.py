"""The app's colours for charts: one name each, readable on the dark and the light theme."""

ACCENT = "#ff6d3a"         # the first line, bars and their labels
GREY = "#7f8c9b"           # the second line of a chart (random removal, LeRF)
GREEN = "#2e9e6b"          # insertion, next to deletion
