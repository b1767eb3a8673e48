//! What the local outbox keeps of a link: its shape, not its secrets. Every `http(s)://`
//! link keeps its scheme, host and path, and each query and fragment parameter keeps its
//! name, but every value becomes [`REDACTED`]. Mail code therefore puts secrets (sign-in,
//! confirmation and unsubscribe tokens) in a link's query or fragment, never in its path.

/// What a redacted value reads as.
pub const REDACTED: &str = "<redacted>";

/// `text` with the query and fragment values of every link replaced by [`REDACTED`].
pub fn redact_links(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = next_link(rest) {
        out.push_str(&rest[..start]);
        let link = &rest[start..];
        let end = link.find(ends_link).unwrap_or(link.len());
        out.push_str(&redact_link(&link[..end]));
        rest = &link[end..];
    }
    out.push_str(rest);
    out
}

/// The links in `text` that carry a query or a fragment, whole (what a developer would open).
pub fn links_with_parameters(text: &str) -> Vec<&str> {
    let mut links = Vec::new();
    let mut rest = text;
    while let Some(start) = next_link(rest) {
        let link = &rest[start..];
        let end = link.find(ends_link).unwrap_or(link.len());
        if link[..end].contains(['?', '#']) {
            links.push(&link[..end]);
        }
        rest = &link[end..];
    }
    links
}

/// Where the next `http://` or `https://` link starts.
fn next_link(text: &str) -> Option<usize> {
    [text.find("https://"), text.find("http://")]
        .into_iter()
        .flatten()
        .min()
}

/// Whether `c` ends a link in running text or in a header like `<https://…>`.
fn ends_link(c: char) -> bool {
    c.is_whitespace() || matches!(c, '<' | '>' | '"' | '\'')
}

/// One link with its parameters' values redacted.
fn redact_link(link: &str) -> String {
    let Some(split) = link.find(['?', '#']) else {
        return link.to_owned();
    };
    let (base, tail) = link.split_at(split);
    let mut out = base.to_owned();
    // `tail` is `?query#fragment`, `?query` or `#fragment`; each part is `&`-separated.
    let (query, fragment) = match tail.split_once('#') {
        Some((query, fragment)) => (query, Some(fragment)),
        None => (tail, None),
    };
    if let Some(query) = query.strip_prefix('?') {
        out.push('?');
        out.push_str(&redact_parameters(query));
    }
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(&redact_parameters(fragment));
    }
    out
}

/// `name=value&…` with each value redacted; a part without `=` may itself be the secret.
fn redact_parameters(parameters: &str) -> String {
    parameters
        .split('&')
        .map(|part| match part.split_once('=') {
            Some((name, value)) if !value.is_empty() => format!("{name}={REDACTED}"),
            Some(_) => part.to_owned(),
            None if part.is_empty() => String::new(),
            None => REDACTED.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_keep_their_shape_and_lose_their_secrets() {
        let body = "Sign in:\n\nhttps://raxx.app/signin/email#token=s3cr3t-_x\n\nThanks.\n";
        assert_eq!(
            redact_links(body),
            "Sign in:\n\nhttps://raxx.app/signin/email#token=<redacted>\n\nThanks.\n"
        );
        assert_eq!(
            redact_links("<http://localhost:8000/api/marketing/unsubscribe?token=abc&x=1>"),
            "<http://localhost:8000/api/marketing/unsubscribe?token=<redacted>&x=<redacted>>"
        );
        assert_eq!(
            redact_links("a https://x.test/p?q=1#frag b https://x.test/plain c"),
            "a https://x.test/p?q=<redacted>#<redacted> b https://x.test/plain c"
        );
    }

    #[test]
    fn text_without_parameters_is_unchanged() {
        for text in [
            "It filled at 10:31.",
            "See https://raxx.app/help.",
            "",
            "http://",
        ] {
            assert_eq!(redact_links(text), text);
        }
    }

    #[test]
    fn only_links_with_parameters_are_listed() {
        let body = "https://raxx.app/help and https://raxx.app/signin/email#token=abc\n";
        assert_eq!(
            links_with_parameters(body),
            vec!["https://raxx.app/signin/email#token=abc"]
        );
    }
}
