"""What check says about the newest siblings: what a new partition made from
the newest would lack (``cannot_reproduce``) and how the newest differs from
the partitions before it (``sibling_drift``). Pure."""

from __future__ import annotations

from collections.abc import Sequence

from pgpart.core.range_checks import without_range_checks
from pgpart.core.record import record
from pgpart.core.siblings import SiblingTemplate


@record
class TemplateIssue:
    message: str
    blocks: bool  # creation is refused (else a warning and the partition is made)


def template_issues(
    template: SiblingTemplate | None, key_column: str, unreadable: str | None = None
) -> tuple[TemplateIssue, ...]:
    """What a new partition made from ``template`` would lack."""
    if unreadable is not None:
        return (TemplateIssue(unreadable, blocks=True),)
    if template is None:
        return ()
    out: list[TemplateIssue] = []
    sub = template.subpartitioning
    if sub is not None:
        if sub.nested:
            out.append(
                TemplateIssue(
                    f"{template.name} is sub-partitioned more than one level deep", blocks=True
                )
            )
        elif sub.key.upper().startswith("RANGE") and (
            key_column in sub.key_columns or not sub.key_columns
        ):
            out.append(
                TemplateIssue(
                    f"{template.name} is sub-partitioned by {sub.key} on the time key: its "
                    "child bounds would need shifting to the new range",
                    blocks=True,
                )
            )
    for what in template.unreadable:
        out.append(TemplateIssue(f"cannot take apart {what} of {template.name}", blocks=True))
    for pub in template.publications:
        if not pub.allowed:
            out.append(
                TemplateIssue(
                    f'publication "{pub.name}" lists {template.name} but pgpart\'s role may not '
                    "add tables to it (it must own the publication and the table, or be a "
                    "superuser): new partitions will not be published",
                    blocks=False,
                )
            )
    return tuple(out)


def fingerprint(t: SiblingTemplate) -> dict[str, tuple[str, ...]]:
    """What a new partition would copy from ``t``, with ``t``'s own name taken
    out, per aspect: two siblings agree when their fingerprints are equal
    (pg_partman's range CHECK, which pins each one's own range, apart)."""
    t = without_range_checks(t)

    def local(name: str) -> str:
        return name[len(t.name) :] if name.startswith(t.name) else name

    def show(flag: bool, text: str) -> tuple[str, ...]:
        return (text,) if flag else ()

    identity = t.identity_index
    sub = t.subpartitioning
    return {
        "indexes": tuple(
            sorted(("UNIQUE " if i.unique else "") + i.using for i in t.local_indexes)
        ),
        "constraints": tuple(sorted(c.definition for c in t.local_constraints)),
        "NOT VALID parent constraints": tuple(sorted(c.name for c in t.not_valid_inherited)),
        "triggers": tuple(sorted(f"{c.head} ON * {c.tail} [{c.enabled}]" for c in t.triggers)),
        "row-level security": (
            *show(t.rls, "ENABLE"),
            *show(t.force_rls, "FORCE"),
            *sorted(
                f"{p.name} {p.command} {p.roles} {p.using} {p.with_check} {p.permissive}"
                for p in t.policies
            ),
        ),
        "privileges": tuple(sorted(a for a in t.acl or () if not a.startswith(f"{t.owner}="))),
        "replica identity": (
            t.replica_identity
            + (f" {identity.using}" if identity and t.replica_identity == "i" else ""),
        ),
        "persistence": show(t.unlogged, "UNLOGGED"),
        "storage parameters": tuple(sorted(t.reloptions))
        + tuple(sorted("toast." + o for o in t.toast_reloptions)),
        "tablespace": show(t.tablespace is not None, t.tablespace or ""),
        "column settings": tuple(
            sorted(
                f"{c.column}:{c.statistics}:{','.join(c.options)}:{','.join(sorted(c.acl))}"
                for c in t.columns
                if c.statistics is not None or c.options or c.acl
            )
        ),
        "NOT NULL and defaults": tuple(
            sorted(
                [
                    f"{c.column} NOT NULL" + ("" if c.not_null_valid else " NOT VALID")
                    for c in t.columns
                    if c.not_null
                ]
                + [f"{c.column} DEFAULT {c.default or '-'}" for c in t.columns if c.own_default]
            )
        ),
        "enabled state of the parent's triggers": tuple(
            sorted(f"{c.name} [{c.enabled}]" for c in t.clone_states)
        ),
        "sub-partitioning": (
            (sub.key, *sorted(f"{local(c.name)} {c.bound}" for c in sub.children)) if sub else ()
        ),
        "publications": tuple(sorted(p.name for p in t.publications)),
    }


def drift(newest: SiblingTemplate, others: Sequence[SiblingTemplate]) -> str | None:
    """One line saying how the template (the newest partition) differs from the
    partitions before it, or None when they agree."""
    mine = fingerprint(newest)
    for other in others:
        theirs = fingerprint(other)
        differ = [aspect for aspect in mine if mine[aspect] != theirs[aspect]]
        if differ:
            detail = "; ".join(_difference(a, mine[a], theirs[a], other.name) for a in differ)
            return (
                f"new partitions copy the newest, {newest.name}, which differs from "
                f"{other.name} in {detail}"
            )
    return None


def _difference(aspect: str, mine: tuple[str, ...], theirs: tuple[str, ...], other: str) -> str:
    lacks = [x for x in theirs if x not in mine]
    extra = [x for x in mine if x not in theirs]
    parts = []
    if lacks:
        parts.append(
            f"lacks {_short(lacks[0])}" + (f" (+{len(lacks) - 1})" if len(lacks) > 1 else "")
        )
    if extra:
        parts.append(
            f"has {_short(extra[0])}" + (f" (+{len(extra) - 1})" if len(extra) > 1 else "")
        )
    return f"{aspect} ({', '.join(parts) or 'differs'} compared with {other})"


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
