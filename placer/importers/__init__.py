"""Importers: cluster, queue, task and price-list output -> a scenario file to edit.

One module per source (`k8s_nodes`, `k8s_workloads`, `k8s_services`, `skypilot`,
`catalog`, `sites_csv`); each adds to a `ScenarioDoc` (`document`), new or read from an existing
file, and marks what it could not infer with `# TODO(placer import): ...` comments.
docs/import.md describes each.
"""

from placer.importers.catalog import import_catalog
from placer.importers.document import TODO, ScenarioDoc
from placer.importers.k8s_nodes import import_nodes
from placer.importers.k8s_services import import_services
from placer.importers.k8s_workloads import import_jobs, import_kueue
from placer.importers.sites_csv import import_sites
from placer.importers.skypilot import import_tasks

__all__ = [
    "TODO",
    "ScenarioDoc",
    "import_catalog",
    "import_jobs",
    "import_kueue",
    "import_nodes",
    "import_services",
    "import_sites",
    "import_tasks",
]
