"""Outputs: the text report, the HTML report and the exports to schedulers."""
