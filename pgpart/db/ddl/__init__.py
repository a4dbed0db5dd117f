"""The statement builders: every action (and restore's steps) as the SQL
that carries it out, in steps of short transactions. Pure: no I/O; the
executor sends exactly these statements and the dry run prints them.

By job: step (the Step record, guards, options, a step as text), locking
(timeouts, pgpart's advisory lock, roles, the locks around a parent),
literals (names and bounds as SQL), acl (privileges read back), actions
(an action -> its steps), create + sibling + settle (a new partition, a
faithful sibling, the DEFAULT's rows moved in), relocate (a drain's
steps), refused_rows (rows a drain's table in transit would refuse; the
moved rows given back), marks (relocation's marks), retention + retention_marks (drop,
detach, archive's detach and drop, their marks), subscription, analyze,
restore (restore's mark and ATTACH).
"""
