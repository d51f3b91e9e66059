"""Load a manifest file, reporting every problem as ``FILE:LINE:COL: CODE: message``.

Three passes, each adding located issues: YAML (syntax, duplicates, bombs), the
pydantic models (types, unknown keys, values), and cross-references (rules that name
tools the manifest does not have). Nothing here raises a bare exception at a user.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from enclosure.errors import ManifestError, ManifestIssue
from enclosure.manifest._models import Manifest
from enclosure.manifest._network import AGENT
from enclosure.manifest._yaml import MAX_BYTES, SourceMap, parse_yaml

__all__ = ["load_manifest", "load_manifest_text", "manifest_source"]

_TYPE_CODES = {
    "extra_forbidden": "E-MANIFEST-UNKNOWN-KEY",
    "missing": "E-MANIFEST-MISSING-KEY",
    "literal_error": "E-MANIFEST-VALUE",
    "string_pattern_mismatch": "E-MANIFEST-VALUE",
    "greater_than_equal": "E-MANIFEST-VALUE",
    "greater_than": "E-MANIFEST-VALUE",
    "less_than_equal": "E-MANIFEST-VALUE",
    "string_too_short": "E-MANIFEST-VALUE",
    "string_too_long": "E-MANIFEST-VALUE",
    "finite_number": "E-MANIFEST-VALUE",
    "union_tag_invalid": "E-MANIFEST-VALUE",
}


def _code_for(error_type: str) -> str:
    if error_type.startswith("E-"):
        return error_type
    return _TYPE_CODES.get(error_type, "E-MANIFEST-TYPE")


def _message_for(error: Any) -> str:
    loc = ".".join(str(p) for p in error["loc"] if not str(p).startswith("function-"))
    if error["type"] == "extra_forbidden":
        return f"unknown key {error['loc'][-1]!r}"
    if error["type"] == "missing":
        return f"missing required key {error['loc'][-1]!r}"
    where = f"{loc}: " if loc else ""
    msg = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}{msg}"


def _validation_issues(exc: ValidationError, source: SourceMap) -> list[ManifestIssue]:
    issues = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = tuple(error["loc"])
        # Point at the key for errors about the key itself: an unknown key, a
        # refused section, or a name (``[key]``) that fails its pattern.
        key_error = (
            error["type"] in ("extra_forbidden", "E-MANIFEST-UNSUPPORTED")
            or "[key]" in loc
        )
        issues.append(
            source.issue(
                _code_for(error["type"]),
                _message_for(error),
                loc,
                prefer_key=key_error,
            )
        )
    return issues


def _reference_issues(manifest: Manifest, source: SourceMap) -> list[ManifestIssue]:
    issues = []
    for i, rule in enumerate(manifest.rules):
        for j, tool in enumerate(rule.tools or ()):
            if tool not in manifest.tools:
                issues.append(
                    source.issue(
                        "E-MANIFEST-UNKNOWN-TOOL",
                        f"rule names tool {tool!r}, which is not declared in 'tools'",
                        ("rules", i, "tools", j),
                    )
                )
    for name, spec in manifest.tools.items():
        if spec.upstream is not None and spec.upstream not in manifest.upstreams:
            issues.append(
                source.issue(
                    "E-MANIFEST-UNKNOWN-UPSTREAM",
                    f"tool {name!r} names upstream {spec.upstream!r}, which is not "
                    "declared in 'upstreams'",
                    ("tools", name, "upstream"),
                )
            )
    issues += _network_issues(manifest, source)
    issues += _sensitive_issues(manifest, source)
    return issues


def _sensitive_issues(manifest: Manifest, source: SourceMap) -> list[ManifestIssue]:
    """A tool's ``sensitive`` arguments are among its schema's properties."""
    issues = []
    for name, spec in manifest.tools.items():
        schema = spec.input_schema or {}
        props = schema.get("properties")
        if not isinstance(props, dict):
            continue
        for j, arg in enumerate(spec.sensitive):
            if arg not in props:
                issues.append(
                    source.issue(
                        "E-MANIFEST-VALUE",
                        f"tool {name!r} marks {arg!r} sensitive, but its input_schema "
                        "has no such property",
                        ("tools", name, "sensitive", j),
                    )
                )
    return issues


def _network_issues(manifest: Manifest, source: SourceMap) -> list[ManifestIssue]:
    """Principals and credentials named by network rules and credentials exist.

    A principal is a tool, an upstream (its server's own requests) or the agent.
    """
    known = set(manifest.tools) | set(manifest.upstreams) | {AGENT}
    issues = []

    def principals(names: list[str], at: tuple[str | int, ...], what: str) -> None:
        for j, name in enumerate(names):
            if name not in known:
                issues.append(
                    source.issue(
                        "E-MANIFEST-UNKNOWN-TOOL",
                        f"{what} names {name!r}, which is neither a tool in 'tools', "
                        f"an upstream in 'upstreams' nor {AGENT!r}",
                        (*at, "tools", j),
                    )
                )

    for i, rule in enumerate(manifest.network.rules):
        principals(rule.tools, ("network", "rules", i), "network rule")
        if rule.credential is not None and rule.credential not in manifest.credentials:
            issues.append(
                source.issue(
                    "E-MANIFEST-UNKNOWN-CREDENTIAL",
                    f"network rule names credential {rule.credential!r}, which is "
                    "not declared in 'credentials'",
                    ("network", "rules", i, "credential"),
                )
            )
    names = [manifest.network.rule_name(i) for i in range(len(manifest.network.rules))]
    for i, name in enumerate(names):
        if name in names[:i]:
            issues.append(
                source.issue(
                    "E-MANIFEST-VALUE",
                    f"two network rules are named {name!r}",
                    ("network", "rules", i, "name"),
                )
            )
    for cred_name, cred in manifest.credentials.items():
        principals(cred.tools, ("credentials", cred_name), "credential")
    return issues


def load_manifest_text(text: str, file: str = "<string>") -> Manifest:
    """Parse and validate manifest text.

    Args:
        text: the YAML source.
        file: the name to print in error locations.

    Raises:
        ManifestError: with every located issue found.
    """
    data, source = parse_yaml(text, file)
    if data is None:  # "---" alone, or a lone "~": a document with nothing in it
        raise ManifestError([source.issue("E-MANIFEST-EMPTY", "manifest is empty", ())])
    if not isinstance(data, dict):
        kind = type(data).__name__
        issue = source.issue(
            "E-MANIFEST-TYPE", f"a manifest is a mapping of sections, not a {kind}", ()
        )
        raise ManifestError([issue])
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        raise ManifestError(_validation_issues(exc, source)) from None
    if issues := _reference_issues(manifest, source):
        raise ManifestError(issues)
    manifest._source = source  # noqa: SLF001 -- set once, by the only loader
    return manifest


def load_manifest(path: str | Path) -> Manifest:
    """Read, parse and validate a manifest file.

    Raises:
        ManifestError: the file cannot be read, or holds any problem; each issue
            carries ``file:line:col`` and a stable code.
    """
    name = str(path)
    try:
        with Path(path).open("rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        issue = ManifestIssue(
            "E-MANIFEST-UNREADABLE", f"cannot read manifest: {reason}", name, 1, 1
        )
        raise ManifestError([issue]) from exc
    if len(raw) > MAX_BYTES:
        issue = ManifestIssue(
            "E-MANIFEST-TOO-LARGE",
            f"manifest is larger than {MAX_BYTES} bytes",
            name,
            1,
            1,
        )
        raise ManifestError([issue])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        # In characters, as YAML errors count: everything before exc.start decodes.
        col = len(raw[line_start : exc.start].decode("utf-8")) + 1
        issue = ManifestIssue(
            "E-MANIFEST-UNREADABLE", "manifest is not valid UTF-8", name, line, col
        )
        raise ManifestError([issue]) from None
    return load_manifest_text(text, name)


def manifest_source(manifest: Manifest) -> SourceMap:
    """Return where the manifest's paths came from (an empty map if built in code)."""
    source = manifest._source  # noqa: SLF001 -- the loader's own attribute
    if isinstance(source, SourceMap):
        return source
    return SourceMap("<manifest>")
