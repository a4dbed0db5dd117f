"""Connections: application_name, and passwords masked in any text."""

from __future__ import annotations

from pgpart.db.connect import connect, mask_dsn, scrub


def test_application_name_default_and_override(pg_dsn):
    with connect(pg_dsn) as conn:
        assert conn.execute("SHOW application_name").fetchone() == ("pgpart",)
    with connect(pg_dsn + " application_name=nightly-cron") as conn:
        assert conn.execute("SHOW application_name").fetchone() == ("nightly-cron",)


def test_masking():
    assert mask_dsn("postgresql://u:hunter2@db:5432/app") == "postgresql://u:***@db:5432/app"
    assert mask_dsn("host=db password='a b c' user=u") == "host=db password=*** user=u"
    assert "hunter2" not in scrub("failed for hunter2", "host=db password=hunter2")


def test_a_short_password_is_masked_where_it_stands_alone_not_inside_words():
    dsn = "host=db user=app password=r"
    message = 'permission denied to set role "app_owner" for r'
    assert scrub(message, dsn) == 'permission denied to set role "app_owner" for ***'
    # A longer one is masked anywhere, even inside a longer token.
    assert scrub('invalid token: "s3cretzz"', "password=s3cret") == 'invalid token: "***zz"'
