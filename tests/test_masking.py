"""Where a URL's password ends (the rule in automl.masking's docstring), and every piece of it
masked."""

from __future__ import annotations

import re

import pytest

from automl.masking import MIN_FRAGMENT, mask_credentials, mask_text, mask_url, unencoded_separator

# A password is two pieces long enough to be masked on their own, around a separator.
HEAD, TAIL = "Abcd", "Wxyz9"


# reads as host "ss" and a database "Wxyz9@db/x"
@pytest.mark.parametrize(
    ("url", "held"),
    [
        ("postgresql://u:Abcd@Wxyz9@db:5432/x", "@"),
        ("postgresql://u:Abcd/Wxyz9@db/x", "/"),
        ("postgresql://u:Abcd?Wxyz9@db/x", "?"),
        ("postgresql://u:Abcd#Wxyz9@db/x", "#"),
        ("redis://:Abcd/Wxyz9@host:6379/0", "/"),  # the parser's authority is ":Abcd", no "@" in it
        ("redis://:Abcd?Wxyz9@host:6379/0", "?"),
        ("redis://:Abcd#Wxyz9@host", "#"),
        ("rediss://:Abcd@Wxyz9@host:6380/0?ssl_cert_reqs=none", "@"),
        ("postgresql+psycopg://u:Abcd/Wxyz9@db/x?sslmode=require", "/"),
        (
            "postgresql://u:Abcd@ss/Wxyz9@db/x",
            "@",
        ),
        ("postgresql://u:Abcd@ss?Wxyz9@db/x", "@"),  # "?Wxyz9@db/x" is no query parameter
        ("postgresql://u:1234/Wxyz9@db/x", "/"),  # host "u", port 1234 and a two-segment path
        ("postgresql://u:Abcd?x=1@db/x", "?"),  # ":Abcd" is no port, so there is no query yet
        ("postgresql://u:Abcd/Wxyz9@[::1]:5432/x", "/"),
        ("postgresql://u:Abcd/Wxyz9@h1:5432,h2:5433/x", "/"),
        ("postgresql://us@er:pw@db/x", "@"),  # a user name with a bare "@" too
        ("redis://:ok@h1:26379;redis://:Abcd/Wxyz9@h2:26379", "/"),  # each URL of a list
    ],
)
def test_a_password_holding_a_separator_is_found(url: str, held: str) -> None:
    assert unencoded_separator(url) == held
    masked = mask_url(url)
    assert HEAD not in masked and TAIL not in masked and "1234" not in masked, masked
    assert ":***@" in masked


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://db/x",
        "postgresql://u@db/x",
        "postgresql://u:pw@db:5432/x",
        "postgresql://u:p:w@db/x",  # ":" ends the user name only
        "postgresql://u:Abcd%40Wxyz9%2F%3F%23@db/x",  # percent-encoded: what the message asks for
        "postgresql://db:5432/x?options=-c%20search_path=a@b",
        "postgresql://u:pw@db/x?options=a@b&application_name=me@laptop",
        "postgresql://db/x?user=a@b",
        "postgresql:///x?host=/var/run/postgresql&user=a@b",  # no authority at all
        "postgresql://u:pw@/x?host=/sock&user=a@b",  # an empty host after the userinfo
        "postgresql://db:5432/my@db",  # a one-segment path is the database name
        "postgresql://u:pw@h1:5432,h2:5433/x?target_session_attrs=any",
        "postgresql://u:pw@[::1]:5432/x",
        "redis://[::1]:6379/0",
        "redis://:pw@[fe80::1%25eth0]:6379/0",
        "redis://host:6379/0",
        "rediss://:tok@host:6380/0?ssl_cert_reqs=none",
        "redis://:pw@h1:26379/0;redis://:pw@h2:26379/0",  # a failover list
        "sentinel://:pw@h1:26379;sentinel://:pw@h2:26379",
        "redis+sentinel://:pw@h1:26379,h2:26379/mymaster/0",
        "unix:///tmp/a@b/redis.sock?db=0",
        "sqlite:////tmp/a@b/x.db",  # a path may hold "@"
        "sqlite:///a@b?c#d.db",
        "/tmp/a@b/x.journal",
        "a@b.log",
    ],
)
def test_urls_a_driver_reads_as_written_are_not_refused(url: str) -> None:
    assert unencoded_separator(url) is None


def test_the_mask_of_a_url_keeps_what_is_not_the_password() -> None:
    assert (
        mask_url("postgresql://u:Abcd/Wxyz9@db/x?options=a@b")
        == "postgresql://u:***@db/x?options=a@b"
    )
    assert mask_url("postgresql://db:5432/my@db") == "postgresql://db:5432/my@db"
    assert mask_url("sqlite:////tmp/a@b/x.db") == "sqlite:////tmp/a@b/x.db"
    assert (
        mask_url("redis://:p1@h1:26379;redis://:p2@h2:26379")
        == "redis://:***@h1:26379;redis://:***@h2:26379"
    )


def test_urls_in_free_text_are_masked_whatever_their_password_holds() -> None:
    text = (
        "cannot reach 'postgresql://u:Abcd/Wxyz9@db/x': refused; then redis://:Abcd?Wxyz9@h:1/0, "
        "see sqlite:////a@b/c"
    )
    assert mask_credentials(text) == (
        "cannot reach 'postgresql://u:***@db/x': refused; then redis://:***@h:1/0, see sqlite:////a@b/c"
    )


@pytest.mark.parametrize("separator", ["@", "/", "?", "#", ":"])
def test_every_piece_a_driver_could_echo_is_masked(separator: str) -> None:
    url = f"postgresql://u:{HEAD}{separator}{TAIL}@db/x"
    # What a driver prints when it cut the password at the separator: the pieces on their own.
    echoed = (
        f"invalid port '{HEAD}'; could not translate host name \"{TAIL}@db\"; password "
        f"{HEAD}{separator}{TAIL}"
    )
    masked = mask_text(echoed, url)
    assert HEAD not in masked and TAIL not in masked, masked
    assert masked == "invalid port '***'; could not translate host name \"***@db\"; password ***"


def test_the_percent_decoded_password_and_its_pieces_are_masked_too() -> None:
    url = f"redis://:{HEAD}%2F{TAIL}@host:6379/0"  # drivers decode it, and may echo it decoded
    assert (
        mask_text(f"auth {HEAD}/{TAIL} rejected; saw {TAIL}", url) == "auth *** rejected; saw ***"
    )


def test_pieces_shorter_than_the_minimum_are_left_so_words_survive() -> None:
    assert MIN_FRAGMENT == 4
    url = "postgresql://u:ss/Wxyz9@db/x"  # "ss" would eat "address" and "password"
    masked = mask_text("could not translate host name 'ss' to address; Wxyz9", url)
    assert masked == "could not translate host name 'ss' to address; ***"
    # A whole password is masked whatever its length.
    assert (
        mask_text('password "pw" rejected', "postgresql://u:pw@db/x") == 'password "***" rejected'
    )


def test_a_query_secret_is_masked_in_pieces_too() -> None:
    url = f"postgresql://u@db/x?password={HEAD}:{TAIL}"
    assert re.sub(r"\*\*\*", "", mask_text(f"{TAIL} and {HEAD}", url)) == " and "
