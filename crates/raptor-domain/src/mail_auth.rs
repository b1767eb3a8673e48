//! Whether an inbound email's sender is who its `From` says, read from the verdicts the
//! receiving mail servers wrote into its headers. Nothing is checked cryptographically here:
//! the question is which of the headers to believe, since the sender can write any header too.
//!
//! The rule:
//!
//! - Headers are read in the order the message carries them, topmost first: a receiving server
//!   adds its own above what it received, so the topmost of a kind is the last server's.
//! - `Authentication-Results` is believed only when its authserv-id (the server that wrote it)
//!   is one the operator trusts, and only the first such header is read. With no trusted id,
//!   none is read: anyone can write `dmarc=pass` into a message.
//! - `Received-SPF` and SpamAssassin's `X-Spam-Tests` are read from the topmost header of each
//!   name only (the receiving server's), never from any below it.
//! - **DMARC pass** for the `From` domain authenticates; **DMARC fail** does not, whatever
//!   else passed.
//! - Otherwise (no DMARC result, or `none`, `temperror`, `permerror`), **SPF pass** for an
//!   envelope sender whose domain is aligned with `From`'s, or **DKIM pass** for a signing
//!   domain aligned with it (or SpamAssassin's `DKIM_VALID_AU`, a valid signature from the
//!   author's domain), authenticates.
//! - Aligned means the same domain, or one a subdomain of the other (DMARC's relaxed alignment
//!   without a public-suffix list; a public suffix cannot pass SPF or DKIM for itself).
//! - Anything else, no headers at all included, is unverified.

use std::fmt;

use crate::Email;

/// Longest summary kept (headers are the sender's text; the summary is shown to staff).
const MAX_SUMMARY: usize = 300;

/// What the receiving servers' verdicts say about a message's `From`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SenderVerdict {
    /// DMARC passed for the `From` domain.
    DmarcPass,
    /// No DMARC verdict; SPF passed for this envelope domain, aligned with `From`'s.
    SpfAligned(String),
    /// No DMARC verdict; DKIM passed for this signing domain, aligned with `From`'s.
    DkimAligned(String),
    /// DMARC failed for the `From` domain.
    DmarcFail,
    /// Nothing authenticated the `From` domain; what was seen, e.g. `spf=softfail (example.com)`.
    Unverified(String),
}

impl SenderVerdict {
    /// Whether the sender may be taken to be the `From` address.
    pub fn is_authenticated(&self) -> bool {
        matches!(
            self,
            Self::DmarcPass | Self::SpfAligned(_) | Self::DkimAligned(_)
        )
    }
}

impl fmt::Display for SenderVerdict {
    /// A line for staff: `authenticated: dmarc=pass`, `unverified: spf=softfail (example.com)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Self::DmarcPass => "authenticated: dmarc=pass".to_owned(),
            Self::SpfAligned(domain) => format!("authenticated: spf=pass ({domain})"),
            Self::DkimAligned(domain) => format!("authenticated: dkim=pass ({domain})"),
            Self::DmarcFail => "unverified: dmarc=fail".to_owned(),
            Self::Unverified(seen) => format!("unverified: {seen}"),
        };
        f.write_str(truncate(&text, MAX_SUMMARY))
    }
}

/// Judges `from` by the message's `headers` (name, value; in the message's order), believing
/// `Authentication-Results` only from the `trusted_authserv_ids` (see the module's rule).
pub fn sender_verdict<'h>(
    from: &Email,
    headers: impl IntoIterator<Item = (&'h str, &'h str)>,
    trusted_authserv_ids: &[String],
) -> SenderVerdict {
    let from_domain = domain_of(from.as_str()).unwrap_or_default();
    let mut results: Option<Vec<ResInfo>> = None;
    let mut received_spf: Option<&str> = None;
    let mut spam_tests: Option<&str> = None;
    for (name, value) in headers {
        if name.eq_ignore_ascii_case("Authentication-Results") && results.is_none() {
            let (authserv_id, infos) = parse_authentication_results(value);
            if !authserv_id.is_empty()
                && trusted_authserv_ids
                    .iter()
                    .any(|id| id.trim().eq_ignore_ascii_case(&authserv_id))
            {
                results = Some(infos);
            }
        } else if name.eq_ignore_ascii_case("Received-SPF") && received_spf.is_none() {
            received_spf = Some(value);
        } else if name.eq_ignore_ascii_case("X-Spam-Tests") && spam_tests.is_none() {
            spam_tests = Some(value);
        }
    }
    let results = results.unwrap_or_default();
    let mut seen = Vec::new();

    if let Some(dmarc) = results.iter().find(|r| r.method == "dmarc") {
        let about_from = dmarc
            .prop("header.from")
            .and_then(domain_of)
            .is_none_or(|d| d == from_domain);
        match (dmarc.result.as_str(), about_from) {
            ("pass", true) => return SenderVerdict::DmarcPass,
            ("fail", _) => return SenderVerdict::DmarcFail,
            (other, true) => seen.push(format!("dmarc={other}")),
            (other, false) => seen.push(format!("dmarc={other} (another domain)")),
        }
    }

    let mut spf = Vec::new();
    for r in results.iter().filter(|r| r.method == "spf") {
        spf.push((
            r.result.clone(),
            r.prop("smtp.mailfrom").and_then(domain_of),
        ));
    }
    if let Some(value) = received_spf {
        let (result, props) = parse_received_spf(value);
        let identity = prop(&props, "identity");
        if identity.is_none_or(|i| i.eq_ignore_ascii_case("mailfrom")) {
            spf.push((result, prop(&props, "envelope-from").and_then(domain_of)));
        } else {
            seen.push(format!(
                "spf={result} (identity {})",
                identity.unwrap_or("")
            ));
        }
    }
    for (result, domain) in &spf {
        match domain {
            Some(d) if result == "pass" && aligned(d, &from_domain) => {
                return SenderVerdict::SpfAligned(d.clone())
            }
            Some(d) => seen.push(format!("spf={result} ({d})")),
            None => seen.push(format!("spf={result}")),
        }
    }

    for r in results.iter().filter(|r| r.method == "dkim") {
        let domain = r
            .prop("header.d")
            .or_else(|| r.prop("header.i"))
            .and_then(domain_of);
        match domain {
            Some(d) if r.result == "pass" && aligned(&d, &from_domain) => {
                return SenderVerdict::DkimAligned(d)
            }
            Some(d) => seen.push(format!("dkim={} ({d})", r.result)),
            None => seen.push(format!("dkim={}", r.result)),
        }
    }
    let spam_says_aligned_dkim = spam_tests.is_some_and(|tests| {
        tests
            .split([',', ' ', '\t', '\r', '\n'])
            .any(|t| t.trim().eq_ignore_ascii_case("DKIM_VALID_AU"))
    });
    if spam_says_aligned_dkim && !from_domain.is_empty() {
        return SenderVerdict::DkimAligned(from_domain);
    }

    if seen.is_empty() {
        SenderVerdict::Unverified("no SPF, DKIM or DMARC verdict".to_owned())
    } else {
        SenderVerdict::Unverified(seen.join("; "))
    }
}

/// Whether `domain` is aligned with `from_domain`: the same, or one a subdomain of the other.
fn aligned(domain: &str, from_domain: &str) -> bool {
    !from_domain.is_empty()
        && (domain == from_domain
            || is_subdomain(domain, from_domain)
            || is_subdomain(from_domain, domain))
}

fn is_subdomain(child: &str, parent: &str) -> bool {
    parent.contains('.')
        && child
            .strip_suffix(parent)
            .is_some_and(|rest| rest.ends_with('.'))
}

/// The domain of an address (`ada@example.com`, `<ada@example.com>`, `"…"`, `@example.com`) or
/// a bare domain, lower-cased; None when there is no dotted domain.
fn domain_of(value: &str) -> Option<String> {
    let value = value.trim().trim_matches(['"', '<', '>', ' ']);
    let domain = value.rsplit_once('@').map_or(value, |(_, d)| d);
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let valid = domain.contains('.')
        && !domain.starts_with('.')
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_');
    valid.then_some(domain)
}

/// One method's result in an `Authentication-Results` header.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ResInfo {
    /// Lower-cased, without a version (`dkim`, `spf`, `dmarc`).
    method: String,
    /// Lower-cased (`pass`, `fail`, …).
    result: String,
    /// `ptype.property` (lower-cased) and value, e.g. `header.d` = `example.com`.
    props: Vec<(String, String)>,
}

impl ResInfo {
    fn prop(&self, key: &str) -> Option<&str> {
        prop(&self.props, key)
    }
}

fn prop<'a>(props: &'a [(String, String)], key: &str) -> Option<&'a str> {
    props
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// An `Authentication-Results` value (RFC 8601): its authserv-id and its results.
fn parse_authentication_results(value: &str) -> (String, Vec<ResInfo>) {
    let text = tidy(value);
    let mut parts = split_outside_quotes(&text, ';').into_iter();
    let authserv_id = parts
        .next()
        .and_then(|p| p.split_whitespace().next().map(str::to_owned))
        .unwrap_or_default()
        .to_ascii_lowercase();
    if authserv_id.is_empty() || authserv_id.contains('=') {
        // No server named (Microsoft writes results straight away): nobody to trust.
        return (String::new(), Vec::new());
    }
    let infos = parts
        .filter_map(|part| {
            let mut words = split_outside_quotes(&part, ' ').into_iter();
            let first = words.next()?;
            let (method, result) = first.split_once('=')?;
            let method = method.split('/').next().unwrap_or("").to_ascii_lowercase();
            Some(ResInfo {
                method,
                result: unquote(result).to_ascii_lowercase(),
                props: words.filter_map(|w| key_value(&w)).collect(),
            })
        })
        .collect();
    (authserv_id, infos)
}

/// A `Received-SPF` value (RFC 7208 §9.1): the result (lower-cased) and its `key=value` pairs.
fn parse_received_spf(value: &str) -> (String, Vec<(String, String)>) {
    let text = tidy(value);
    let words: Vec<String> = split_outside_quotes(&text, ';')
        .iter()
        .flat_map(|part| split_outside_quotes(part, ' '))
        .collect();
    let result = words
        .first()
        .filter(|w| !w.contains('='))
        .map(|w| w.to_ascii_lowercase())
        .unwrap_or_default();
    let props = words.iter().filter_map(|w| key_value(w)).collect();
    (result, props)
}

/// `key=value` with the key lower-cased and the value unquoted.
fn key_value(word: &str) -> Option<(String, String)> {
    let (key, value) = word.split_once('=')?;
    Some((key.to_ascii_lowercase(), unquote(value).to_owned()))
}

fn unquote(value: &str) -> &str {
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value)
}

/// The value with comments (nested parentheses) dropped, all whitespace as single spaces, and
/// none around `=`; quoted strings are kept as they are.
fn tidy(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut depth = 0usize;
    let mut quoted = false;
    let mut escaped = false;
    for c in value.chars() {
        if escaped {
            escaped = false;
            if depth == 0 {
                out.push(c);
            }
            continue;
        }
        match c {
            '\\' if quoted || depth > 0 => {
                escaped = true;
                if depth == 0 {
                    out.push(c);
                }
            }
            '"' if depth == 0 => {
                quoted = !quoted;
                out.push(c);
            }
            '(' if !quoted => depth += 1,
            ')' if !quoted && depth > 0 => {
                depth -= 1;
                if depth == 0 && !out.ends_with([' ', '=']) {
                    out.push(' ');
                }
            }
            _ if depth > 0 => {}
            c if c.is_whitespace() && !quoted => {
                if !out.ends_with([' ', '=']) {
                    out.push(' ');
                }
            }
            '=' if !quoted => {
                while out.ends_with(' ') {
                    out.pop();
                }
                out.push('=');
            }
            c => out.push(c),
        }
    }
    out.trim().to_owned()
}

/// `text` split at `sep` outside quoted strings, each piece trimmed, empty ones left out.
fn split_outside_quotes(text: &str, sep: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut escaped = false;
    for c in text.chars() {
        if escaped {
            escaped = false;
        } else if c == '\\' && quoted {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == sep && !quoted {
            parts.push(std::mem::take(&mut current));
            continue;
        }
        current.push(c);
    }
    parts.push(current);
    parts
        .into_iter()
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect()
}

/// `text` cut to at most `max` bytes at a character boundary.
fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests;
