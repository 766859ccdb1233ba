"""The HTML report's parts: shared markup helpers, one module per chart, the tables and
sections, the inline assets, and the page that puts them together.

`placer.outputs.html_report` is the public entry point (`render_html`, `load_pareto`,
`check_plan_matches`, `BASE_CHARTS`); the modules here are its implementation.
"""
