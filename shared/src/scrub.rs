//! The one secret scrubber every tool's diagnostics pass through. Whatever credential a process
//! learns (a token from a flag or the environment, a URL's userinfo, an auth-file entry) is
//! [`register`]ed once; [`crate::cli`] then runs every error, hint and log line through [`scrub`]
//! before it reaches stderr, so a server that echoes an `Authorization` header or a token back in
//! its error text cannot make a tool print it. Secrets are registered with the encodings they
//! travel in (base64 as a Basic header carries `user:password`, URL-encoding as a query string or
//! userinfo carries it, JSON escaping as an error body carries it), and `Authorization: Basic …` /
//! `Bearer …` values are masked even when nobody registered them.

use std::borrow::Cow;
use std::sync::RwLock;

use base64::Engine as _;

/// What a secret is replaced with.
pub const MASK: &str = "***";

/// Process-wide: the scrubber sits at the printing edge, far from the code that learns a secret,
/// and a secret must stay masked for the rest of the process's life. Kept sorted longest first so
/// that a secret containing another is masked whole, not left half-visible around a `***`.
static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Registers a secret (a token, a password, a `user:password` pair) so that [`scrub`] masks it and
/// its base64, URL-encoded and JSON-escaped forms. Registering the same secret twice is harmless.
pub fn register(secret: &str) {
    if secret.is_empty() {
        return;
    }
    let mut forms = vec![secret.to_owned()];
    for engine in [
        &base64::engine::general_purpose::STANDARD,
        &base64::engine::general_purpose::URL_SAFE,
    ] {
        let encoded = engine.encode(secret.as_bytes());
        // Without padding, too: some clients (and JWT-style tokens) drop the trailing `=`.
        let trimmed = encoded.trim_end_matches('=').to_owned();
        forms.push(encoded);
        forms.push(trimmed);
    }
    forms.push(percent_encode(secret, false, true));
    forms.push(percent_encode(secret, false, false));
    forms.push(percent_encode(secret, true, true));
    forms.push(json_escape(secret));
    if let Some((user, password)) = secret.split_once(':') {
        // A pair: the password alone is as secret as the pair (a server may echo just the part
        // it failed on), and the pair travels URL-encoded as `user:password@` userinfo.
        if !password.is_empty() {
            register_one(password, &mut forms);
        }
        forms.push(format!(
            "{}:{}",
            percent_encode(user, false, true),
            percent_encode(password, false, true)
        ));
    }
    insert(forms);
}

/// [`register`]s the password of `user:password` through the same path, without recursion.
fn register_one(secret: &str, forms: &mut Vec<String>) {
    forms.push(secret.to_owned());
    let encoded = base64::engine::general_purpose::STANDARD.encode(secret.as_bytes());
    forms.push(encoded.trim_end_matches('=').to_owned());
    forms.push(encoded);
    forms.push(percent_encode(secret, false, true));
    forms.push(percent_encode(secret, false, false));
    forms.push(json_escape(secret));
}

/// Registers the credentials in a URL's userinfo (`https://user:token@host/…`, or a bare token
/// as `https://token@host/…`). A URL without userinfo registers nothing. The userinfo is taken
/// as written (usually percent-encoded) and decoded, since either may be echoed.
pub fn register_url(url: &str) {
    let Some(userinfo) = userinfo(url) else {
        return;
    };
    register(userinfo);
    let decoded = percent_decode(userinfo);
    if decoded != userinfo {
        register(&decoded);
    }
    if !userinfo.contains(':') {
        return;
    }
    // `user:` with an empty password: the user part is then the only credential there is.
    if let Some((user, password)) = decoded.split_once(':') {
        if password.is_empty() && !user.is_empty() {
            register(user);
        }
    }
}

/// The userinfo of `scheme://userinfo@host/…`, if any.
fn userinfo(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let (userinfo, _host) = authority.rsplit_once('@')?;
    (!userinfo.is_empty()).then_some(userinfo)
}

fn insert(forms: Vec<String>) {
    let mut secrets = SECRETS
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    for form in forms {
        if !form.is_empty() && !secrets.contains(&form) {
            secrets.push(form);
        }
    }
    secrets.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
}

/// `text` with every registered secret (in every registered form) replaced by [`MASK`], and the
/// value of every `Authorization: Basic …` / `Bearer …` header masked whether registered or not.
/// Borrows when there was nothing to mask.
pub fn scrub(text: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    {
        let secrets = SECRETS
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for secret in secrets.iter() {
            if out.contains(secret.as_str()) {
                out = Cow::Owned(out.replace(secret.as_str(), MASK));
            }
        }
    }
    if let Some(masked) = mask_authorization(&out) {
        out = Cow::Owned(masked);
    }
    match mask_schemes(&out) {
        Some(masked) => Cow::Owned(masked),
        None => out,
    }
}

/// Masks `Basic <credential>` / `Bearer <credential>` wherever they appear (a server echoing a
/// header under another name, a body quoting it), not only after `authorization`. Only the
/// capitalised schemes, and only values that look like a credential (a digit or one of `+/=.~`,
/// or 20 characters or more), so that prose ("HTTP Basic authentication") and challenges
/// (`Bearer realm="…"`) stay readable.
fn mask_schemes(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = String::new();
    let mut copied = 0;
    let mut from = 0;
    while from < text.len() {
        let next = ["Basic", "Bearer"]
            .iter()
            .filter_map(|scheme| text[from..].find(scheme).map(|i| (from + i, scheme.len())))
            .min();
        let Some((at, len)) = next else { break };
        from = at + len;
        // A word of its own: `XBasic` or `Basically` are not schemes.
        let before_ok = at == 0 || !bytes[at - 1].is_ascii_alphanumeric();
        if !before_ok || from >= bytes.len() || !(bytes[from] == b' ' || bytes[from] == b'\t') {
            continue;
        }
        let start = skip(bytes, from, |b| b == b' ' || b == b'\t');
        let end = skip(bytes, start, is_credential_byte);
        let value = &text[start..end];
        let auth_param = value.ends_with('=')
            && bytes.get(end) == Some(&b'"')
            && value[..value.len() - 1]
                .bytes()
                .all(|b| b.is_ascii_alphabetic() || b == b'_' || b == b'-');
        let looks_like_credential = value.len() >= 20
            || value
                .bytes()
                .any(|b| b.is_ascii_digit() || matches!(b, b'+' | b'/' | b'=' | b'.' | b'~'));
        if value.is_empty() || value == MASK || auth_param || !looks_like_credential {
            continue;
        }
        out.push_str(&text[copied..start]);
        out.push_str(MASK);
        copied = end;
        from = end;
    }
    if copied == 0 {
        return None;
    }
    out.push_str(&text[copied..]);
    Some(out)
}

/// A writer that passes every line through [`scrub`] before it reaches `inner`: the stderr an
/// entry point lends a tool, so that diagnostics a tool writes itself are scrubbed like its
/// errors and log lines. A line is held until its newline (a secret split across two writes is
/// still seen whole), its `\r`, or [`Write::flush`](std::io::Write::flush).
#[derive(Debug)]
pub struct Writer<W: std::io::Write> {
    inner: W,
    pending: Vec<u8>,
}

impl<W: std::io::Write> Writer<W> {
    pub fn new(inner: W) -> Self {
        Writer {
            inner,
            pending: Vec::new(),
        }
    }

    fn write_scrubbed(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let text = String::from_utf8_lossy(bytes);
        self.inner.write_all(scrub(&text).as_bytes())
    }
}

impl<W: std::io::Write> std::io::Write for Writer<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buf);
        // `\r` ends a line too: progress lines are redrawn with it and never get a `\n`.
        if let Some(end) = self
            .pending
            .iter()
            .rposition(|b| *b == b'\n' || *b == b'\r')
        {
            let lines: Vec<u8> = self.pending.drain(..=end).collect();
            self.write_scrubbed(&lines)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            self.write_scrubbed(&rest)?;
        }
        self.inner.flush()
    }
}

impl<W: std::io::Write> Drop for Writer<W> {
    fn drop(&mut self) {
        let _ = std::io::Write::flush(self);
    }
}

/// Masks the credential after `authorization` in the shapes it is printed in: an HTTP header
/// (`Authorization: Basic dXNl…`), a Debug-printed header map (`"authorization": "Bearer eyJ…"`),
/// or a key=value log field. `None` when there is nothing to mask.
fn mask_authorization(text: &str) -> Option<String> {
    const KEY: &str = "authorization";
    let lower = text.to_ascii_lowercase();
    let bytes = text.as_bytes();
    let mut out = String::new();
    let mut copied = 0;
    let mut from = 0;
    while let Some(found) = lower[from..].find(KEY) {
        let mut i = from + found + KEY.len();
        from = i;
        // Closing quote of a quoted key, then `:` or `=`, spaces and an opening quote.
        i = skip(bytes, i, |b| b == b'"' || b == b'\'');
        i = skip(bytes, i, |b| b == b' ' || b == b'\t');
        if i >= bytes.len() || !(bytes[i] == b':' || bytes[i] == b'=') {
            continue;
        }
        i = skip(bytes, i + 1, |b| b == b' ' || b == b'\t');
        i = skip(bytes, i, |b| b == b'"' || b == b'\'');
        // The scheme (Basic, Bearer, token, …); a value without one is masked whole.
        let scheme_end = skip(bytes, i, |b| b.is_ascii_alphanumeric() || b == b'-');
        let value_start = if scheme_end < bytes.len()
            && scheme_end > i
            && (bytes[scheme_end] == b' ' || bytes[scheme_end] == b'\t')
        {
            skip(bytes, scheme_end, |b| b == b' ' || b == b'\t')
        } else {
            i
        };
        let value_end = skip(bytes, value_start, is_credential_byte);
        if value_end == value_start || &text[value_start..value_end] == MASK {
            continue;
        }
        out.push_str(&text[copied..value_start]);
        out.push_str(MASK);
        copied = value_end;
        from = value_end;
    }
    if copied == 0 {
        return None;
    }
    out.push_str(&text[copied..]);
    Some(out)
}

/// Bytes of a base64, base64url, JWT or opaque-token credential (RFC 6750's b64token, plus `*`
/// so that an already-masked value is recognised as one piece).
fn is_credential_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=' | b'*')
}

fn skip(bytes: &[u8], mut i: usize, pred: impl Fn(u8) -> bool) -> usize {
    while i < bytes.len() && pred(bytes[i]) {
        i += 1;
    }
    i
}

/// Percent-encoding of everything outside RFC 3986's unreserved set; `plus_for_space` gives the
/// form-encoding variant (`application/x-www-form-urlencoded`) a token endpoint body uses.
fn percent_encode(s: &str, plus_for_space: bool, upper: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(b));
            }
            b' ' if plus_for_space => out.push('+'),
            _ if upper => out.push_str(&format!("%{b:02X}")),
            _ => out.push_str(&format!("%{b:02x}")),
        }
    }
    out
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && bytes[i + 1].is_ascii_hexdigit()
            && bytes[i + 2].is_ascii_hexdigit()
        {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn json_escape(s: &str) -> String {
    let quoted = serde_json::to_string(s).unwrap_or_default();
    quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .unwrap_or(&quoted)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    // The registry is process-wide and tests run in parallel threads: each test uses secrets no
    // other test registers, and asserts only about its own.

    #[test]
    fn masks_a_registered_secret_and_its_encodings() {
        register("tok-3f9a/b+c d");
        let b64 = base64::engine::general_purpose::STANDARD.encode("tok-3f9a/b+c d");
        let text = format!(
            "raw tok-3f9a/b+c d, b64 {b64}, url tok-3f9a%2Fb%2Bc%20d, lower tok-3f9a%2fb%2bc%20d, form tok-3f9a%2Fb%2Bc+d"
        );
        let out = scrub(&text);
        assert_eq!(out, "raw ***, b64 ***, url ***, lower ***, form ***");
    }

    #[test]
    fn a_pair_masks_the_basic_header_value_and_the_password() {
        register("alice:pa55-w0rd!");
        let basic = base64::engine::general_purpose::STANDARD.encode("alice:pa55-w0rd!");
        let text = format!("sent {basic}; server said: bad password pa55-w0rd! for alice");
        assert_eq!(
            scrub(&text),
            "sent ***; server said: bad password *** for alice"
        );
    }

    #[test]
    fn url_userinfo_is_registered_decoded_and_as_written() {
        register_url("https://bob:s%40cret-77@git.example/org/repo.git");
        let out = scrub("fatal: https://bob:s%40cret-77@git.example said s@cret-77");
        assert_eq!(out, "fatal: https://***@git.example said ***");
        register_url("https://ghp_tokenonly123@github.com/org/repo");
        assert_eq!(scrub("echo ghp_tokenonly123"), "echo ***");
        // A URL without userinfo registers nothing (an `@` in the path is not userinfo).
        register_url("https://git.example/user@host/x");
        assert_eq!(scrub("user"), "user");
    }

    #[test]
    fn authorization_headers_are_masked_unregistered() {
        let cases = [
            (
                "Authorization: Basic dW5yZWc6cGFzcw==\r\nHost: x",
                "Authorization: Basic ***\r\nHost: x",
            ),
            (
                r#"{"authorization": "Bearer eyJhbGciOi.eyJzdWIi.c2ln"}"#,
                r#"{"authorization": "Bearer ***"}"#,
            ),
            ("authorization=token abc123", "authorization=token ***"),
            ("Proxy-Authorization: xyz987", "Proxy-Authorization: ***"),
            // Echoed under another name, or inside a body.
            (
                r#"{"x-echo": "Basic dW5yZWc6cGFzcw==", "n": 1}"#,
                r#"{"x-echo": "Basic ***", "n": 1}"#,
            ),
            (
                "you sent Bearer eyJhbGciOi.eyJzdWIi.c2ln.",
                "you sent Bearer ***",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(scrub(input), want, "{input}");
        }
    }

    #[test]
    fn text_without_secrets_is_borrowed_unchanged() {
        let text = "no secrets here; the authorization step failed";
        assert!(matches!(scrub(text), Cow::Borrowed(_)));
        for text in [
            "WWW-Authenticate: Bearer realm=\"https://auth\",service=\"r\"",
            "Falling back to HTTP Basic Auth",
            "Using bearer token authentication.",
            "Basic authentication failed",
        ] {
            assert!(matches!(scrub(text), Cow::Borrowed(_)), "{text}");
        }
    }

    #[test]
    fn a_longer_secret_containing_a_shorter_one_is_masked_whole() {
        register("zq8-short");
        register("zq8-short-and-longer");
        assert_eq!(scrub("x zq8-short-and-longer y"), "x *** y");
    }

    #[test]
    fn the_writer_scrubs_whole_lines_even_when_split_across_writes() {
        use std::io::Write as _;
        register("split-secret-42");
        let mut out = Vec::new();
        {
            let mut w = Writer::new(&mut out);
            w.write_all(b"warning: split-sec").expect("write");
            w.write_all(b"ret-42 was refused\nand a tail")
                .expect("write");
        }
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            "warning: *** was refused\nand a tail"
        );
    }

    #[test]
    fn json_escaped_secret_is_masked() {
        register("we\"ird\\pw");
        assert_eq!(
            scrub(r#"{"password":"we\"ird\\pw"}"#),
            r#"{"password":"***"}"#
        );
    }
}
