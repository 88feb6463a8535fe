"""The pages' Content-Security-Policy: only the app's own files run or style a page (a probe's
User-Agent shown in one is text), and nothing comes from the network."""

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
