"""An API error is logged as one line, with the server's own words (a log reader — and the
tests' RBAC check, which reads the operator's log line by line — sees the whole reason)."""

from __future__ import annotations

from healthdemo_operator.kube import ApiException, one_line


def test_an_api_error_is_one_line_with_the_servers_message() -> None:
    error = ApiException(status=403, reason="Forbidden")
    error.body = (
        '{"kind": "Status", "message": "events \\"demo.1\\" is forbidden: unable to create new '
        'content in namespace t because it is being terminated", "code": 403}'
    )
    assert one_line(error) == (
        '403 Forbidden: events "demo.1" is forbidden: unable to create new content in namespace '
        "t because it is being terminated"
    )


def test_other_errors_and_bodies_that_are_no_status() -> None:
    assert one_line(ValueError("two\nlines")) == "two lines"
    error = ApiException(status=502, reason="Bad Gateway")
    error.body = "<html>\nproxy error</html>"
    assert one_line(error) == "502 Bad Gateway: <html> proxy error</html>"
