"""The OIDC callback's choice between JSON and a redirect, from the Accept header."""

from __future__ import annotations

import pytest

from hearth_app.auth.router import _prefers_html


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", True),
        ("text/*", True),
        ("application/json;q=0.5, text/html", True),
        ("", False),
        ("*/*", False),
        ("application/json", False),
        ("application/json, text/html", False),
        ("text/html;q=0.5, application/json", False),
        ("text/html;q=0, */*", False),
        ("text/html;q=nonsense", False),
        ("TEXT/HTML", True),
    ],
)
def test_prefers_html(accept: str, html: bool) -> None:
    assert _prefers_html(accept) is html
