"""Archive mode and restore: pg_dump of an expired partition, verified,
handed to archive_command, then dropped; and ``pgpart restore`` bringing
one back. What pgpart reads back (manifests, dumps, files in archive_dir)
is verified, never trusted.

By job: run (an ArchivePartition's sequence), tools (pg_dump/pg_restore),
command (archive_command), files (names), summary (a table's archives, for
stats), safety (archive_dir: no links, mode 0600, claims), manifest,
store (one archive's files), dump_toc (a dump's table of contents),
restore (``pgpart restore``) + restore_open (the archive checked and fed
to pg_restore) + restore_attach (the mark and the ATTACH).
"""
