"""Privileges as pg_class.relacl spells them (aclitem text), read back
into records, for the grants a new partition copies."""

from __future__ import annotations

from pgpart.core.record import record


@record
class AclItem:
    grantee: str | None  # None: PUBLIC
    privileges: str  # letters as in aclitem, e.g. "arwd"
    grantable: str  # the letters held WITH GRANT OPTION
    grantor: str


def parse_aclitem(text: str) -> AclItem:
    """Parse aclitem text such as ``"my role"=r*w/owner`` (``=r/owner`` is PUBLIC).

    https://www.postgresql.org/docs/current/ddl-priv.html#PRIVILEGE-ABBREVS-TABLE
    """
    grantee, pos = _acl_name(text, 0)
    if pos >= len(text) or text[pos] != "=":
        raise ValueError(f"not an aclitem: {text!r}")
    slash = text.index("/", pos)
    privs = text[pos + 1 : slash]
    grantor, _ = _acl_name(text, slash + 1)
    plain = privs.replace("*", "")
    grantable = "".join(ch for i, ch in enumerate(privs) if privs[i + 1 : i + 2] == "*")
    return AclItem(grantee or None, plain, grantable, grantor)


def _acl_name(text: str, pos: int) -> tuple[str, int]:
    if pos < len(text) and text[pos] == '"':
        out: list[str] = []
        pos += 1
        while pos < len(text):
            if text[pos] == '"':
                if text[pos + 1 : pos + 2] == '"':
                    out.append('"')
                    pos += 2
                    continue
                return "".join(out), pos + 1
            out.append(text[pos])
            pos += 1
        raise ValueError(f"unterminated name in aclitem {text!r}")
    end = pos
    while end < len(text) and text[end] not in "=/":
        end += 1
    return text[pos:end], end
