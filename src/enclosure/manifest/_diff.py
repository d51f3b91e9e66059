"""What changed between two manifests, by name: tools, credentials, network rules.

A line diff shows every edit; this says what it means for permissions: which
tools, credentials, MCP upstreams and network rules appear, vanish or change,
and which other top-level sections differ. Comments and formatting never count,
since both sides are compared as validated models.

Must not know: where the manifests came from (files, the server's store).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Mapping

    from enclosure.manifest._models import Manifest

__all__ = ["ManifestDiff", "NamedDiff", "diff_manifests"]

_NAMED = ("tools", "credentials", "upstreams")


class NamedDiff(NamedTuple):
    """Entries of one named section, sorted by name."""

    added: list[str]
    removed: list[str]
    changed: list[str]


class ManifestDiff(NamedTuple):
    """The changes from an old manifest to a new one."""

    tools: NamedDiff
    credentials: NamedDiff
    upstreams: NamedDiff
    network_rules: NamedDiff
    """Network rules by name (``rule-N`` for an unnamed rule)."""
    sections: list[str]
    """Top-level sections that differ in any way, the named ones included."""

    @property
    def empty(self) -> bool:
        """True when both manifests mean the same."""
        return not self.sections


def _named(old: Mapping[str, Any], new: Mapping[str, Any]) -> NamedDiff:
    return NamedDiff(
        sorted(set(new) - set(old)),
        sorted(set(old) - set(new)),
        sorted(n for n in set(old) & set(new) if old[n] != new[n]),
    )


def _rules(manifest: Manifest) -> dict[str, Any]:
    network = manifest.network
    return {
        network.rule_name(i): rule.model_dump(mode="json")
        for i, rule in enumerate(network.rules)
    }


def diff_manifests(old: Manifest, new: Manifest) -> ManifestDiff:
    """Compare two validated manifests.

    >>> from enclosure.manifest import load_manifest_text
    >>> a = load_manifest_text("{agent: {name: a}, tools: {x: {}}}")
    >>> b = load_manifest_text("{agent: {name: a}, tools: {y: {}}}")
    >>> diff_manifests(a, b).tools
    NamedDiff(added=['y'], removed=['x'], changed=[])
    """
    before, after = old.model_dump(mode="json"), new.model_dump(mode="json")
    named = {key: _named(before[key], after[key]) for key in _NAMED}
    return ManifestDiff(
        network_rules=_named(_rules(old), _rules(new)),
        sections=sorted(
            k for k in before.keys() | after.keys() if before.get(k) != after.get(k)
        ),
        **named,
    )
