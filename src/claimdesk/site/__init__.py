"""The published wiki: what the site shows of the desk, rendered as HTML, independent of MkDocs.

- `collect.py` gathers what the site shows: the desk, the latest recorded run's results, the model.
- `refs.py` finds inline claim references (`[[claim:ID]]`) in a page's Markdown, outside code.
- `html.py` renders fragments: a page's claim block, its header, an inline reference.
- `pages.py` renders the generated pages (Claims, Sources, Bull vs bear, Metrics, Model, Home).
- `parts.py` cuts the listing pages (Sources, Bull vs bear, Metrics) into parts of bounded size.
- `calculator.py` turns the shared model into MathML and JavaScript with sympy's printers.
- `stage.py` writes a plain docs folder with everything rendered, for builds without the plugin.

`claimdesk.mkdocs_plugin` and `claimdesk site --stage` are thin callers of `render.SiteRenderer`.
Nothing here checks a claim: statuses come from the store's latest recorded run.
"""
