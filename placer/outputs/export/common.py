"""Helpers every export target shares: options, manifests, names, annotations, YAML.

* `ExportOptions` (namespace, container, Kueue API version) and `check_options`, which
  rejects values Kubernetes or Kueue would.
* `Manifest`: one exported document with its file path and origin.
* Name sanitising: `dns_label` (object names), `label_value` (label values), `is_dns_label`.
* The labels and GPU resource names a pool gets by default (`SITE_LABEL`, `POOL_LABEL`,
  `VENDOR_GPU_RESOURCE`) and the `placer.dev/` annotations on every document.
* `render`: documents as one YAML stream that YAML 1.1 and 1.2 readers read alike.
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass
from typing import Any

from placer.errors import OptionError

KUEUE_API_VERSIONS: tuple[str, ...] = ("v1beta2", "v1beta1")

SITE_LABEL = "placer.dev/site"
POOL_LABEL = "placer.dev/pool"
_ANNOTATION = "placer.dev/"

#: Kubernetes extended resource per catalog vendor (lowercase).
VENDOR_GPU_RESOURCE = {"nvidia": "nvidia.com/gpu", "amd": "amd.com/gpu", "google": "google.com/tpu"}

_DNS_LABEL = re.compile(r"^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$")


@dataclass(frozen=True)
class ExportOptions:
    """Choices a user makes at export time.

    Attributes:
      namespace: Kubernetes namespace of the workloads (and of Karmada policies, Kueue
        LocalQueues).
      container: name of the container the GPU limits go to (strategic merge matches
        containers by name); None: the workload's name.
      kueue_api: Kueue API version, v1beta2 (current) or v1beta1 (older Kueue releases).
    """

    namespace: str = "default"
    container: str | None = None
    kueue_api: str = "v1beta2"


@dataclass(frozen=True)
class Manifest:
    """One exported document and where it goes.

    Attributes:
      path: relative file path when each document gets its own file (a folder per cluster
        for the per-cluster targets).
      origin: what it was made from, for messages.
      document: the manifest as plain data (YAML-ready).
    """

    path: str
    origin: str
    document: dict[str, Any]


# ---- names --------------------------------------------------------------------------------


def dns_label(text: str, max_len: int = 63) -> str:
    """A deterministic DNS-1123 label (<= max_len lowercase alphanumerics or '-') for text.

    Lowercases, turns every run of other characters into one '-', trims '-' at the ends;
    a result longer than max_len is cut and ends in '-' plus 8 hex digits of the SHA-256
    of text, so distinct long ids stay distinct.
    """
    name = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"
    if len(name) > max_len:
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
        name = f"{name[: max_len - 9].rstrip('-')}-{digest}"
    return name


def label_value(text: str) -> str:
    """A deterministic Kubernetes label value (<= 63 of [A-Za-z0-9._-], alphanumeric ends)."""
    value = re.sub(r"[^A-Za-z0-9._-]+", "-", text)
    value = re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", value) or "x"
    if len(value) > 63:
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
        value = f"{value[:54].rstrip('-_.')}-{digest}"
    return value


def is_dns_label(name: str) -> bool:
    """True if name is a DNS-1123 label (what Kubernetes requires of most object names)."""
    return bool(_DNS_LABEL.match(name))


# ---- options ------------------------------------------------------------------------------


def check_options(options: ExportOptions) -> None:
    """Raises OptionError for a namespace, container or Kueue API version Kubernetes rejects."""
    if not is_dns_label(options.namespace):
        raise OptionError(
            f"--namespace {options.namespace!r}: not a Kubernetes namespace name (a DNS-1123 "
            "label: at most 63 lowercase letters, digits or '-', alphanumeric at both ends)"
        )
    if options.container is not None and not is_dns_label(options.container):
        raise OptionError(
            f"--container {options.container!r}: not a Kubernetes container name (a DNS-1123 "
            "label: at most 63 lowercase letters, digits or '-', alphanumeric at both ends)"
        )
    if options.kueue_api not in KUEUE_API_VERSIONS:
        raise OptionError(
            f"--kueue-api {options.kueue_api!r}: one of {', '.join(KUEUE_API_VERSIONS)}"
        )


# ---- annotations --------------------------------------------------------------------------


def _annotations(**values: object) -> dict[str, str]:
    """placer.dev/<key>: value annotations (strings; lists joined by ',')."""
    out: dict[str, str] = {}
    for key, value in values.items():
        if value is None:
            continue
        text = ",".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
        out[_ANNOTATION + key.replace("_", "-")] = text
    return out


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


# ---- YAML ---------------------------------------------------------------------------------


def render(documents: list[dict[str, Any]], comments: list[str] | None = None) -> str:
    """Documents as one YAML stream ('---' before each), after '#' comment lines.

    Strings that YAML 1.1 readers (kubectl, PyYAML) would take for another type, such as
    NO, on, 12:30 or 28, are double-quoted, so every reader gets strings back.
    """
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.Representer = _Representer
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False
    yaml.explicit_start = True
    yaml.width = 4096
    buf = io.StringIO()
    for line in comments or []:
        buf.write(f"# {line}\n")
    yaml.dump_all(documents, buf)
    return buf.getvalue()


def _make_representer() -> type:
    from ruamel.yaml.nodes import ScalarNode
    from ruamel.yaml.representer import SafeRepresenter
    from ruamel.yaml.resolver import VersionedResolver

    yaml11 = VersionedResolver(version=(1, 1))
    yaml12 = VersionedResolver(version=(1, 2))

    class Representer(SafeRepresenter):
        """SafeRepresenter that quotes strings YAML 1.1 or 1.2 would read as non-strings."""

    def represent_str(self: SafeRepresenter, data: str) -> Any:
        for resolver in (yaml11, yaml12):
            if resolver.resolve(ScalarNode, data, (True, False)) != "tag:yaml.org,2002:str":
                return self.represent_scalar("tag:yaml.org,2002:str", data, style='"')
        return SafeRepresenter.represent_str(self, data)

    Representer.add_representer(str, represent_str)
    return Representer


_Representer = _make_representer()
